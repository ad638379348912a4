"""Who may do what: staff groups and the capabilities of customer roles.

Staff roles are Django groups holding explicit permissions (created by migration
``0002_staff_groups``); customer roles are memberships of one tenant. Views never test role names:
they ask ``access`` helpers, which read these tables.
"""

from django.contrib.auth.models import AnonymousUser, User

from tenants.models import Membership

BILLING_ADMIN = "Billing admin"
FINANCE = "Finance"

# Staff group -> permissions (app_label.codename). Migrations create the groups from a frozen copy;
# a later capability adds its permissions in a migration of its own.
STAFF_GROUP_PERMISSIONS: dict[str, list[str]] = {
    BILLING_ADMIN: [
        "tenants.view_tenant",
        "tenants.add_tenant",
        "tenants.change_tenant",
        "tenants.manage_members",
        "tenants.suspend_tenant",
        "tenants.view_providerprofile",
        "tenants.change_providerprofile",
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
        "usage.view_meter",
        "usage.add_meter",
        "usage.change_meter",
        "usage.view_usagerecord",
        "usage.add_usagerecord",
        "usage.view_plan",
        "usage.add_plan",
        "usage.change_plan",
        "usage.view_subscription",
        "usage.add_subscription",
        "usage.change_subscription",
        "usage.view_onetimecharge",
        "usage.add_onetimecharge",
        "usage.view_ingesttoken",
        "usage.add_ingesttoken",
        "usage.change_ingesttoken",
    ],
    FINANCE: [
        "tenants.view_tenant",
        "tenants.view_providerprofile",
        "invoices.view_invoice",
        "invoices.record_payment",
        "invoices.export_invoice",
        "payments.view_payment",
        "payments.view_refund",
        "usage.view_meter",
        "usage.view_usagerecord",
        "usage.view_plan",
        "usage.view_subscription",
        "usage.view_onetimecharge",
    ],
}

Role = Membership.Role

# Customer capability -> roles that have it. Everyone with a membership may read.
CUSTOMER_CAPABILITIES: dict[str, frozenset[str]] = {
    "billing_profile.edit": frozenset({Role.OWNER}),
    "invoice.pay": frozenset({Role.OWNER, Role.ADMIN}),
    "invoice.dispute": frozenset({Role.OWNER, Role.ADMIN}),
}

AnyUser = User | AnonymousUser


def is_staff_member(user: AnyUser) -> bool:
    """Platform staff: billing admins, finance, or a superuser. They see every tenant."""
    if not user.is_authenticated:
        return False
    if getattr(user, "is_superuser", False):
        return True
    return user.has_perm("tenants.view_tenant")


def staff_role_names(user: AnyUser) -> list[str]:
    if not user.is_authenticated:
        return []
    names = [g.name for g in user.groups.all()]
    if getattr(user, "is_superuser", False) and BILLING_ADMIN not in names:
        names.insert(0, "Superuser")
    return names


def customer_can(role: str, capability: str) -> bool:
    return role in CUSTOMER_CAPABILITIES[capability]
