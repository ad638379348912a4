"""What production refuses: checked when the settings load (the process does not start) and
again as a Django system check (``manage.py check``, ``migrate``, ``runserver``), for settings
changed after loading (an override module, a test)."""

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

# The development key is public on purpose (settings.py): production refuses it.
INSECURE_DEV_SECRET_KEY = "django-insecure-billing-portal-development-key-never-in-production"  # noqa: S105
# The sandbox's own secrets: public (the README signs a webhook with one).
SANDBOX_KEY_SECRET = "sandbox-key-secret"  # noqa: S105
SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret"  # noqa: S105


def production_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(check id, message) for each setting unfit for production, given the settings' values."""
    problems: list[tuple[str, str]] = []
    if values.get("DEBUG"):
        problems.append(("billing_portal.E001", "DEBUG must be off in production."))
    key = str(values.get("SECRET_KEY") or "")
    if key == INSECURE_DEV_SECRET_KEY or key.startswith("django-insecure") or len(key) < 50:
        problems.append(
            ("billing_portal.E002", "SECRET_KEY must be a unique random value of 50+ characters.")
        )
    if not values.get("ALLOWED_HOSTS"):
        problems.append(("billing_portal.E003", "ALLOWED_HOSTS is required in production."))
    if values.get("RAZORPAY_MODE") == "sandbox":
        problems.append(("billing_portal.E004", "The Razorpay sandbox cannot run in production."))
    if not values.get("RAZORPAY_WEBHOOK_SECRET"):
        problems.append(
            ("billing_portal.E005", "RAZORPAY_WEBHOOK_SECRET is required in production.")
        )
    secrets = {values.get("RAZORPAY_KEY_SECRET"), values.get("RAZORPAY_WEBHOOK_SECRET")}
    if secrets & {SANDBOX_KEY_SECRET, SANDBOX_WEBHOOK_SECRET}:
        problems.append(
            (
                "billing_portal.E006",
                "The Razorpay sandbox's public secrets cannot be used in production.",
            )
        )
    return problems


NAMES = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "RAZORPAY_MODE",
    "RAZORPAY_KEY_SECRET",
    "RAZORPAY_WEBHOOK_SECRET",
)


@register(Tags.security)
def production_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not getattr(settings, "PRODUCTION", False):
        return []
    values = {name: getattr(settings, name, None) for name in NAMES}
    return [
        Error(message, hint="See README, Production.", id=check_id)
        for check_id, message in production_problems(values)
    ]
