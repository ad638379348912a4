"""Invoice and payment permissions for the staff groups (frozen lists; see tenants 0002)."""

from django.db import migrations

from tenants.migration_helpers import grant, revoke

GROUPS = {
    "Billing admin": [
        "invoices.view_invoice",
        "invoices.add_invoice",
        "invoices.change_invoice",
        "invoices.approve_invoice",
        "invoices.send_invoice",
        "invoices.void_invoice",
        "invoices.record_payment",
        "invoices.resolve_dispute",
        "invoices.export_invoice",
        "payments.view_payment",
        "payments.view_refund",
    ],
    "Finance": [
        "invoices.view_invoice",
        "invoices.record_payment",
        "invoices.export_invoice",
        "payments.view_payment",
        "payments.view_refund",
    ],
}


def forwards(apps, schema_editor):
    grant(apps, GROUPS)


def backwards(apps, schema_editor):
    revoke(apps, GROUPS)


class Migration(migrations.Migration):
    dependencies = [
        ("invoices", "0001_initial"),
        ("payments", "0001_initial"),
        ("tenants", "0002_staff_groups"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
