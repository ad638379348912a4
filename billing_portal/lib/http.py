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
