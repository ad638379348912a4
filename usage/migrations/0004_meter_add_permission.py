"""Billing admins add meters from the meter pages (a frozen list; see tenants 0002)."""

from django.db import migrations

from tenants.migration_helpers import grant, revoke

GROUPS = {"Billing admin": ["usage.add_meter"]}


def forwards(apps, schema_editor):
    grant(apps, GROUPS)


def backwards(apps, schema_editor):
    revoke(apps, GROUPS)


class Migration(migrations.Migration):
    dependencies = [("usage", "0003_usageimport")]

    operations = [migrations.RunPython(forwards, backwards)]
