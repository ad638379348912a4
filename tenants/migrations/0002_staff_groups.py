"""Create the staff roles as groups with explicit permissions.

The lists are frozen here (not imported from tenants.roles) so that this migration means the same
thing forever; a later capability grants its own permissions in a migration of its own.
"""

from django.db import migrations

from tenants.migration_helpers import grant

GROUPS = {
    "Billing admin": [
        "tenants.view_tenant",
        "tenants.add_tenant",
        "tenants.change_tenant",
        "tenants.manage_members",
        "tenants.suspend_tenant",
        "tenants.view_providerprofile",
        "tenants.change_providerprofile",
    ],
    "Finance": [
        "tenants.view_tenant",
        "tenants.view_providerprofile",
    ],
}


def create_groups(apps, schema_editor):
    grant(apps, GROUPS)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
