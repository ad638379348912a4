from django.contrib.auth.models import Group

from tenants.roles import STAFF_GROUP_PERMISSIONS


def test_the_migration_creates_the_staff_groups_with_exactly_their_permissions(db):
    for name, perms in STAFF_GROUP_PERMISSIONS.items():
        group = Group.objects.get(name=name)
        granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert granted == set(perms), name


def test_finance_reads_but_cannot_change_tenants(finance, billing_admin):
    assert finance.has_perm("tenants.view_tenant")
    assert not finance.has_perm("tenants.change_tenant")
    assert not finance.has_perm("tenants.suspend_tenant")
    assert billing_admin.has_perm("tenants.suspend_tenant")
