from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse

from tenants.models import Membership
from tenants.roles import is_staff_member, staff_role_names


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    section: str


def navigation(user) -> list[NavItem]:
    """The sections a user's role may open, in the order the top bar shows them."""
    if not user.is_authenticated:
        return []
    items = [
        NavItem("Invoices", reverse("invoices:list"), "invoices"),
        NavItem("Usage", reverse("usage:dashboard"), "usage"),
        NavItem("Payments", reverse("payments:list"), "payments"),
    ]
    if is_staff_member(user):
        items.append(NavItem("Tenants", reverse("tenants:list"), "tenants"))
        if user.has_perm("usage.view_plan"):
            items.append(NavItem("Plans", reverse("plans:plan_list"), "plans"))
        if user.has_perm("tenants.change_providerprofile"):
            items.append(NavItem("Settings", reverse("provider_settings"), "provider_settings"))
    elif Membership.objects.filter(user=user).exists():
        items.append(NavItem("Billing profile", reverse("billing_profile"), "billing_profile"))
    return items


def _session_staff_roles(request: HttpRequest) -> list[str]:
    """The user menu's role label, read once per session: it is display only (every permission
    check asks the database), and a query for it on every page counts against the list's budget."""
    roles = request.session.get("staff_roles")
    if roles is None:
        roles = staff_role_names(request.user)
        request.session["staff_roles"] = roles
    return list(roles)


def portal(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    staff = is_staff_member(user)
    return {
        "nav_items": navigation(user),
        "is_staff_member": staff,
        "staff_roles": _session_staff_roles(request) if staff else [],
        "my_memberships": (
            [] if staff else list(Membership.objects.filter(user=user).select_related("tenant"))
        ),
        # Staff act on every tenant; resolving a membership for them is a wasted query per page.
        "active_membership": None if staff else getattr(request, "active_membership", None),
    }
