"""Writes for usage: ingest tokens, subscriptions, one-time charges (records: usage.ingest)."""

import datetime
import hashlib
import secrets
from decimal import Decimal
from typing import TYPE_CHECKING

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from usage.models import IngestToken

if TYPE_CHECKING:
    from invoices.models import Invoice
    from tenants.models import Tenant
    from usage.models import OneTimeCharge, Plan, Subscription

TOKEN_PREFIX = "cbu_"  # noqa: S105 - a public prefix that secret scanners can match


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def ingest_token_create(*, name: str, actor: User) -> tuple[IngestToken, str]:
    """A new token; the raw value is returned once and never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = IngestToken.objects.create(
        name=name.strip()[:100],
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        token_hash=token_digest(raw),
        created_by=actor,
    )
    return token, raw


@transaction.atomic
def ingest_token_revoke(*, token: IngestToken, actor: User) -> IngestToken:
    IngestToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db()
    return token


def ingest_token_authenticate(header: str) -> IngestToken | None:
    """The live token an ``Authorization: Bearer ...`` header names, or None."""
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    token = IngestToken.objects.filter(
        token_hash=token_digest(raw.strip()), revoked_at__isnull=True
    ).first()
    if token is not None:
        now = timezone.now()
        # One write a minute at most per token, not one per batch.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            IngestToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


# --- Subscriptions and one-time charges -----------------------------------------------------


class SubscriptionError(ValueError):
    """Refused with a message; nothing was changed."""


@transaction.atomic
def subscription_start(
    *, tenant: "Tenant", plan: "Plan", starts_on: "datetime.date", actor: User
) -> "Subscription":
    """Put a tenant on a plan from a date; an open subscription ends the day before."""
    from tenants.models import Tenant
    from usage.models import Subscription

    Tenant.objects.select_for_update().get(pk=tenant.pk)  # one plan change at a time per tenant
    current = Subscription.objects.filter(tenant=tenant, ends_on__isnull=True).first()
    if current is not None:
        if starts_on <= current.starts_on:
            raise SubscriptionError(
                f"{tenant.display_name} is on {current.plan} from {current.starts_on:%d %b %Y}: "
                "a new plan starts after that."
            )
        current.ends_on = starts_on - datetime.timedelta(days=1)
        current.save(update_fields=["ends_on"])
    elif Subscription.objects.filter(tenant=tenant, ends_on__gte=starts_on).exists():
        raise SubscriptionError("That date falls inside an earlier subscription.")
    return Subscription.objects.create(tenant=tenant, plan=plan, starts_on=starts_on)


@transaction.atomic
def subscription_end(
    *, subscription: "Subscription", ends_on: "datetime.date", actor: User
) -> None:
    if ends_on < subscription.starts_on:
        raise SubscriptionError("A subscription cannot end before it starts.")
    subscription.ends_on = ends_on
    subscription.save(update_fields=["ends_on"])


@transaction.atomic
def one_time_charge_add(
    *,
    tenant: "Tenant",
    description: str,
    sac_code: str,
    quantity: Decimal,
    unit_price: Decimal,
    tax_rate: Decimal,
    invoice_now: bool,
    actor: User,
) -> "OneTimeCharge | Invoice":
    """A charge for the tenant's next monthly invoice, or a one-time invoice drafted right away."""
    from invoices import services as invoice_services
    from invoices.models import Invoice
    from usage.models import OneTimeCharge

    if invoice_now:
        line = invoice_services.LineData(
            description=description,
            quantity=quantity,
            unit_price=unit_price,
            sac_code=sac_code,
            tax_rate=tax_rate,
        )
        return invoice_services.invoice_create(
            tenant=tenant, lines=[line], actor=actor, kind=Invoice.Kind.ONE_TIME
        )
    return OneTimeCharge.objects.create(
        tenant=tenant,
        description=description,
        sac_code=sac_code,
        quantity=quantity,
        unit_price=unit_price,
        tax_rate=tax_rate,
        created_by=actor,
    )
