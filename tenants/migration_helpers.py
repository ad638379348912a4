"""Granting permissions to the staff groups from data migrations (shared by every app's)."""

from django.contrib.auth.management import create_permissions


def _ensure_permissions(apps, app_label: str) -> None:
    # Permissions are normally created after all migrations ran (post_migrate); create them now.
    app_config = apps.get_app_config(app_label)
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None


def grant(apps, groups: dict[str, list[str]]) -> None:
    """Give each named group (created if missing) the listed "app_label.codename" permissions."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for app_label in {perm.split(".")[0] for perms in groups.values() for perm in perms}:
        _ensure_permissions(apps, app_label)
    for name, perms in groups.items():
        group, _ = Group.objects.get_or_create(name=name)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def revoke(apps, groups: dict[str, list[str]]) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in groups.items():
        group = Group.objects.filter(name=name).first()
        if group is None:
            continue
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )
