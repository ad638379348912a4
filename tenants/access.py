"""Fetch objects for the current user, or refuse.

Every view that takes an object id goes through here. The rule (DESIGN.md, "Pages and URLs"):

* an object the user may not see at all answers 404, exactly as a missing one does, so ids of
  other tenants' objects cannot be probed;
* an object the user may see but not change answers 403.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from tenants.models import Membership, Tenant
from tenants.roles import customer_can, is_staff_member


def visible_tenants(user) -> QuerySet[Tenant]:
    return scope_to_user(Tenant.objects.all(), user, tenant_field=None)


def scope_to_user[M: Model](
    queryset: QuerySet[M], user, *, tenant_field: str | None = "tenant"
) -> QuerySet[M]:
    """Narrow a queryset of tenant-owned objects (or of tenants: ``tenant_field=None``)."""
    if is_staff_member(user):
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    lookup = f"{tenant_field}__memberships__user" if tenant_field else "memberships__user"
    return queryset.filter(**{lookup: user})


def get_for_user[M: Model](
    queryset: QuerySet[M], user, *, pk: object, tenant_field: str | None = "tenant"
) -> M:
    """One tenant-owned object the user may see, or 404 (missing and foreign look the same)."""
    try:
        return scope_to_user(queryset, user, tenant_field=tenant_field).get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):  # type: ignore[attr-defined]
        raise Http404("No such object.") from None


def tenant_scope(request: HttpRequest) -> int | None:
    """The tenant a list is held to: None for staff (every tenant), a customer's active
    organisation, or 404 for someone who belongs to none."""
    if is_staff_member(request.user):
        return None
    membership = getattr(request, "active_membership", None)
    if not membership:  # a lazy object: test its truth, never "is None"
        raise Http404("You are not a member of any organisation.")
    return membership.tenant_id


def membership_of(user, tenant: Tenant) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, tenant=tenant).first()


def require_staff_perm(user, perm: str) -> None:
    """403 unless a staff member holds ``perm``."""
    if not user.has_perm(perm):
        raise PermissionDenied("Your role cannot do this.")


def tenant_for_user(
    request: HttpRequest,
    tenant_id: object,
    *,
    staff_perm: str | None = None,
    capability: str | None = None,
) -> Tenant:
    """A tenant the user may see, checked for the right to act on it.

    ``staff_perm`` is what a staff member needs; ``capability`` is what a member of the tenant
    needs (None: members may not do this at all). Without either, reading is enough.
    """
    user = request.user
    tenant = get_for_user(Tenant.objects.all(), user, pk=tenant_id, tenant_field=None)
    if staff_perm is None and capability is None:
        return tenant
    if is_staff_member(user):
        if staff_perm is None or not user.has_perm(staff_perm):
            raise PermissionDenied("Your role cannot do this.")
        return tenant
    membership = membership_of(user, tenant)
    if membership is None or capability is None or not customer_can(membership.role, capability):
        raise PermissionDenied("Your role in this organisation cannot do this.")
    return tenant
