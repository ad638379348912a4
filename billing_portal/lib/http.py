"""The request type of views behind @login_required (for type checking only)."""

from typing import TYPE_CHECKING

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

if TYPE_CHECKING:
    from tenants.models import Membership


class AuthedRequest(HttpRequest):
    user: User
    htmx: HtmxDetails
    active_membership: "Membership | None"


def wants_fragment(request: HttpRequest) -> bool:
    """An htmx request for part of a page; not htmx restoring a page from history (Back),
    which needs the whole page."""
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.history_restore_request
