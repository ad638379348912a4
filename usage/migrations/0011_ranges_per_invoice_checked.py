"""Every usage range belongs to an invoice (0010 filled them in; a migration of its own, so that
PostgreSQL has checked the new keys before the table is altered)."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0010_ranges_per_invoice"),
    ]

    operations = [
        migrations.AlterField(
            model_name="usagerange",
            name="invoice",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="usage_ranges",
                to="invoices.invoice",
            ),
        ),
        migrations.RemoveIndex(model_name="usagerange", name="usage_range_group"),
        migrations.RemoveField(model_name="usagerange", name="line"),
        migrations.AlterField(
            model_name="usagerange",
            name="meter",
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
        migrations.AddIndex(
            model_name="usagerange",
            index=models.Index(fields=["tenant", "upto_id"], name="usage_range_tenant_upto"),
        ),
        migrations.AddConstraint(
            model_name="usagerange",
            constraint=models.CheckConstraint(
                condition=Q(meter__isnull=False) | Q(dimension_value=""),
                name="usage_range_every_meter_every_dimension",
            ),
        ),
    ]
