"""Usage ranges name the records an invoice billed (of every meter, or of one), no longer those
of one line; a usage line names its meter and dimension value instead."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Exists, OuterRef, Subquery


def ranges_to_invoices(apps, schema_editor):
    UsageRange = apps.get_model("usage", "UsageRange")
    InvoiceLine = apps.get_model("invoices", "InvoiceLine")
    UsageRange.objects.update(
        invoice_id=Subquery(
            InvoiceLine.objects.filter(pk=OuterRef("line_id")).values("invoice_id")[:1]
        )
    )
    # Every range of a line is of the line's meter and dimension value.
    of_line = UsageRange.objects.filter(line_id=OuterRef("pk"))
    InvoiceLine.objects.filter(Exists(of_line)).update(
        usage_meter_id=Subquery(of_line.values("meter_id")[:1]),
        usage_dimension=Subquery(of_line.values("dimension_value")[:1]),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("invoices", "0010_line_usage_meter"),
        ("usage", "0009_run_group_one_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="usagerange",
            name="invoice",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="usage_ranges",
                to="invoices.invoice",
            ),
        ),
        migrations.RunPython(ranges_to_invoices, elidable=False),
    ]
