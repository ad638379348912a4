from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from tenants.models import Membership

ACTIVE_TENANT_SESSION_KEY = "active_tenant_id"


def active_membership(request: HttpRequest) -> Membership | None:
    """The membership whose tenant the customer is looking at (chosen in the switcher)."""
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=user).select_related("tenant")
    chosen = request.session.get(ACTIVE_TENANT_SESSION_KEY)
    if chosen is not None:
        membership = memberships.filter(tenant_id=chosen).first()
        if membership is not None:
            return membership
    return memberships.order_by("tenant__display_name", "tenant_id").first()


class ActiveTenantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.active_membership = SimpleLazyObject(lambda: active_membership(request))  # type: ignore[attr-defined]
        return self.get_response(request)
