"""Create the staff roles as groups with explicit permissions.

The lists are frozen here (not imported from tenants.roles) so that this migration means the same
thing forever; a later capability grants its own permissions in a migration of its own.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

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


def ensure_permissions(apps, app_label):
    # Permissions are normally created after all migrations ran (post_migrate); create them now.
    app_config = apps.get_app_config(app_label)
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None


def grant(apps, groups):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for app_label in {perm.split(".")[0] for perms in groups.values() for perm in perms}:
        ensure_permissions(apps, app_label)
    for name, perms in groups.items():
        group, _ = Group.objects.get_or_create(name=name)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


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
