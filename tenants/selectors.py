from django.db.models import Count, Q, QuerySet

from tenants.models import Membership, Tenant


def tenant_list(*, q: str = "", status: str = "") -> QuerySet[Tenant]:
    tenants = Tenant.objects.annotate(member_count=Count("memberships"))
    if q:
        tenants = tenants.filter(
            Q(display_name__icontains=q)
            | Q(legal_name__icontains=q)
            | Q(gstin__icontains=q)
            | Q(billing_email__icontains=q)
            | Q(city__icontains=q)
        )
    if status in Tenant.Status.values:
        tenants = tenants.filter(status=status)
    return tenants.order_by("display_name", "id")


def tenant_status_counts() -> dict[str, int]:
    counts = Tenant.objects.aggregate(
        all=Count("id"),
        **{s: Count("id", filter=Q(status=s)) for s in Tenant.Status.values},
    )
    return counts


def tenant_members(tenant: Tenant) -> QuerySet[Membership]:
    return tenant.memberships.select_related("user").order_by("role", "user__username")
