import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("invoices", "0009_drop_redundant_keys"),
        ("usage", "0009_run_group_one_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="invoiceline",
            name="usage_meter",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="usage.meter",
            ),
        ),
        migrations.AddField(
            model_name="invoiceline",
            name="usage_dimension",
            field=models.CharField(blank=True, max_length=60),
        ),
    ]
