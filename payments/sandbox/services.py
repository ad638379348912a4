"""What the sandbox does, as Razorpay would: orders, payment attempts, captures, refunds, webhooks.

Every write checks state first under a row lock (an order while a payment is attempted or captured,
a payment while it is refunded or captured), moves status through one door per entity, and
records the webhooks that follow in the same transaction; they are sent on commit.
"""

import datetime
import json
import logging
import secrets
from dataclasses import dataclass
from functools import partial
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from payments import transport
from payments.sandbox import entities
from payments.sandbox.after_response import run_or_defer
from payments.sandbox.models import (
    SandboxOrder,
    SandboxPayment,
    SandboxRefund,
    SandboxWebhookEvent,
    razorpay_id,
)
from payments.sandbox.signing import hmac_hex

log = logging.getLogger(__name__)

BAD_REQUEST = "BAD_REQUEST_ERROR"
NOT_FOUND = "The id provided does not exist"
MIN_AMOUNT = 100  # paise: Razorpay's floor of ₹1 for orders and refunds
WEBHOOK_TIMEOUT = 5  # seconds, as Razorpay waits for a merchant's reply
REFUND_OUTCOMES = ("processed", "failed", "pending")


class SandboxError(Exception):
    """A refusal worded as Razorpay words it; the API answers it as ``{"error": {...}}``."""

    def __init__(
        self,
        description: str,
        *,
        field: str | None = None,
        status: int = 400,
        code: str = BAD_REQUEST,
        reason: str | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.field = field
        self.status = status
        self.code = code
        self.reason = reason

    def as_json(self) -> dict[str, Any]:
        # Razorpay names a refused request's source and step; other errors say "NA".
        refused = self.status == 400
        return {
            "error": {
                "code": self.code,
                "description": self.description,
                "source": "business" if refused else "NA",
                "step": "payment_initiation" if refused else "NA",
                "reason": self.reason or ("input_validation_failed" if refused else "NA"),
                "metadata": {},
                "field": self.field,
            }
        }


def not_found() -> SandboxError:
    return SandboxError(NOT_FOUND, status=404, field="id")


# --- One door per status -------------------------------------------------------------------------
OS, P, R = SandboxOrder.Status, SandboxPayment.Status, SandboxRefund.Status
ORDER_MOVES: dict[str, set[str]] = {
    OS.CREATED: {OS.ATTEMPTED},
    OS.ATTEMPTED: {OS.PAID},
    OS.PAID: set(),
}
PAYMENT_MOVES: dict[str, set[str]] = {
    P.CREATED: {P.AUTHORIZED, P.FAILED},
    P.AUTHORIZED: {P.CAPTURED},
    P.CAPTURED: {P.REFUNDED},
    P.REFUNDED: set(),
    P.FAILED: set(),
}
REFUND_MOVES: dict[str, set[str]] = {R.PENDING: {R.PROCESSED, R.FAILED}, R.PROCESSED: set()}


def _move(obj: SandboxOrder | SandboxPayment | SandboxRefund, new: str) -> None:
    table = {SandboxOrder: ORDER_MOVES, SandboxPayment: PAYMENT_MOVES, SandboxRefund: REFUND_MOVES}
    allowed = table[type(obj)].get(obj.status, set())
    if new not in allowed:
        raise SandboxError(f"{obj.id} cannot move from {obj.status} to {new}")
    obj.status = new


def _queue(task_name: str, *args: Any, **kwargs: Any) -> None:
    """Queue a sandbox task. A broker outage is logged, not raised: the payment is committed by
    then, and the console can redeliver a webhook or settle a refund by hand."""
    from payments.sandbox import tasks  # tasks import this module

    try:
        getattr(tasks, task_name).delay(*args, **kwargs)
    except KombuOperationalError:
        # Only the broker's refusal: an eager task's own error still reaches the caller (a test).
        log.exception("sandbox task %s%r was not queued", task_name, args)


def _on_commit(task_name: str, *args: Any, **kwargs: Any) -> None:
    """Queue on commit, and after the reply when inside a sandbox request (after_response)."""
    transaction.on_commit(partial(run_or_defer, partial(_queue, task_name, *args, **kwargs)))


# --- Orders --------------------------------------------------------------------------------------
@transaction.atomic
def order_create(
    *, amount: int, currency: str, receipt: str | None, notes: dict, auto_capture: bool
) -> SandboxOrder:
    return SandboxOrder.objects.create(
        amount=amount,
        currency=currency,
        receipt=receipt or "",
        notes=notes,
        auto_capture=auto_capture,
    )


# --- Payment attempts (the checkout page) --------------------------------------------------------
@dataclass(frozen=True)
class Failure:
    label: str  # what the payer picks on the checkout page
    code: str
    description: str
    source: str
    step: str
    reason: str


# The failures a payer can act out, with Razorpay's error fields for each.
FAILURES: dict[str, Failure] = {
    "bank_declined": Failure(
        "Payment declined by the bank",
        BAD_REQUEST,
        "Your payment has been declined by your bank. Please try another payment method.",
        "bank",
        "payment_authorization",
        "payment_declined",
    ),
    "upi_expired": Failure(
        "UPI request expired",
        BAD_REQUEST,
        "Payment was not completed on time: the UPI collect request expired.",
        "customer",
        "payment_authentication",
        "payment_timed_out",
    ),
    "insufficient_funds": Failure(
        "Insufficient funds",
        BAD_REQUEST,
        "Your payment could not be completed due to insufficient account balance.",
        "customer",
        "payment_authorization",
        "insufficient_funds",
    ),
    "incorrect_otp": Failure(
        "Incorrect OTP",
        BAD_REQUEST,
        "Authentication failed due to incorrect otp",
        "customer",
        "payment_authentication",
        "invalid_otp",
    ),
    "bank_down": Failure(
        "Bank server not responding",
        "GATEWAY_ERROR",
        "Payment failed because the bank did not respond in time.",
        "bank",
        "payment_authorization",
        "payment_failed",
    ),
}


@dataclass(frozen=True)
class Payer:
    """What the payer entered at checkout; of a card, only what a gateway may keep."""

    method: str
    email: str
    contact: str
    vpa: str | None = None
    bank: str | None = None
    wallet: str | None = None
    card_last4: str = ""
    card_network: str = ""
    card_type: str = ""
    card_name: str = ""


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


def _acquirer_data(method: str) -> dict[str, str | None]:
    if method == SandboxPayment.Method.CARD:
        return {"auth_code": _digits(6)}
    if method == SandboxPayment.Method.UPI:
        return {"rrn": _digits(12), "upi_transaction_id": _digits(12)}
    if method == SandboxPayment.Method.NETBANKING:
        return {"bank_transaction_id": _digits(10)}
    return {"transaction_id": None}


def _lock_order(order_id: str) -> SandboxOrder:
    try:
        return SandboxOrder.objects.select_for_update().get(pk=order_id)
    except SandboxOrder.DoesNotExist:
        raise not_found() from None


def _lock_payment(payment_id: str) -> SandboxPayment:
    try:
        return SandboxPayment.objects.select_for_update().get(pk=payment_id)
    except SandboxPayment.DoesNotExist:
        raise not_found() from None


@transaction.atomic
def payment_attempt(
    *, order_id: str, payer: Payer, failure: str | None, description: str = ""
) -> SandboxPayment:
    """The payer pays (or fails to) at checkout: authorized, and captured at once when the order
    auto-captures; or failed with the chosen failure's error fields."""
    # The order's row lock makes two tabs paying the same order take turns; the second sees paid.
    order = _lock_order(order_id)
    if order.status == OS.PAID:
        raise SandboxError("This order has already been paid", field="order_id")
    if failure is not None and failure not in FAILURES:
        raise SandboxError("Unknown failure", field="failure")
    order.attempts += 1
    if order.status == OS.CREATED:
        _move(order, OS.ATTEMPTED)
    is_card = payer.method == SandboxPayment.Method.CARD
    payment = SandboxPayment(
        order=order,
        amount=order.amount_due,
        currency=order.currency,
        method=payer.method,
        description=description[:255],
        email=payer.email,
        contact=payer.contact,
        vpa=payer.vpa or "",
        bank=payer.bank or "",
        wallet=payer.wallet or "",
        card_id=razorpay_id("card_") if is_card else "",
        card_last4=payer.card_last4,
        card_network=payer.card_network,
        card_type=payer.card_type,
        card_name=payer.card_name,
        notes=order.notes,
    )
    events: list[tuple[str, dict[str, dict], str]] = []
    if failure is not None:
        chosen = FAILURES[failure]
        _move(payment, P.FAILED)
        payment.error_code = chosen.code
        payment.error_description = chosen.description
        payment.error_source = chosen.source
        payment.error_step = chosen.step
        payment.error_reason = chosen.reason
        payment.save()
        order.save()
        events.append(("payment.failed", {"payment": entities.payment_entity(payment)}, payment.id))
    else:
        _move(payment, P.AUTHORIZED)
        payment.acquirer_data = _acquirer_data(payer.method)
        payment.save()
        order.save()
        events.append(
            ("payment.authorized", {"payment": entities.payment_entity(payment)}, payment.id)
        )
        if order.auto_capture:
            events += _capture(payment, order)
    _events_record(events)
    return payment


def _capture(payment: SandboxPayment, order: SandboxOrder) -> list[tuple[str, dict, str]]:
    """Capture a locked, authorized payment and mark its locked order paid."""
    if order.status == OS.PAID:
        raise SandboxError("The order has already been paid", field="order_id")
    _move(payment, P.CAPTURED)
    payment.captured = True
    payment.captured_at = timezone.now()
    payment.save()
    order.amount_paid += payment.amount
    _move(order, OS.PAID)
    order.save()
    captured = entities.payment_entity(payment)
    return [
        ("payment.captured", {"payment": captured}, payment.id),
        ("order.paid", {"payment": captured, "order": entities.order_entity(order)}, payment.id),
    ]


@transaction.atomic
def payment_capture(*, payment_id: str, amount: int, currency: str | None) -> SandboxPayment:
    """The merchant's capture of an authorized payment (orders created with payment_capture=0)."""
    order_id = (
        SandboxPayment.objects.filter(pk=payment_id).values_list("order_id", flat=True).first()
    )
    if order_id is None:
        raise not_found()
    # Order before payment, the same order payment_attempt takes its locks in.
    order = _lock_order(order_id)
    payment = _lock_payment(payment_id)
    if payment.status in (P.CAPTURED, P.REFUNDED):
        raise SandboxError("This payment has already been captured")
    if payment.status != P.AUTHORIZED:
        raise SandboxError(
            "Only payments which have been authorized and not yet captured can be captured"
        )
    if currency is not None and currency != payment.currency:
        raise SandboxError("Currency should be same as payment currency", field="currency")
    if amount != payment.amount:
        raise SandboxError("Capture amount must be equal to the amount authorized", field="amount")
    _events_record(_capture(payment, order))
    return payment


# --- Refunds -------------------------------------------------------------------------------------
@transaction.atomic
def refund_create(
    *, payment_id: str, amount: int | None, notes: dict, receipt: str | None, speed: str
) -> SandboxRefund:
    """A pending refund of a captured payment, settled on commit as the settings say."""
    # The payment's row lock serialises refunds: two at once cannot both take the last rupee.
    payment = _lock_payment(payment_id)
    if payment.status == P.REFUNDED:
        raise SandboxError("The payment has been fully refunded already")
    if payment.status != P.CAPTURED:
        raise SandboxError(
            "The payment has not been captured. Only captured payments can be refunded",
            field="payment_id",
        )
    # Pending refunds hold their amount until they settle (a failed one gives it back).
    held = (
        payment.refunds.filter(status__in=[R.PENDING, R.PROCESSED]).aggregate(total=Sum("amount"))[
            "total"
        ]
        or 0
    )
    remaining = payment.amount - held
    if remaining <= 0:
        raise SandboxError("The payment has been fully refunded already")
    if amount is None:
        amount = remaining
    if amount < MIN_AMOUNT:
        raise SandboxError("The amount must be atleast INR 1.00", field="amount")
    if amount > payment.amount:
        raise SandboxError(
            "The refund amount provided is greater than amount captured", field="amount"
        )
    if amount > remaining:
        raise SandboxError(
            "The total refund amount is greater than the refund payment amount", field="amount"
        )
    refund = SandboxRefund.objects.create(
        payment=payment,
        amount=amount,
        currency=payment.currency,
        notes=notes,
        receipt=receipt or "",
        speed_requested=speed,
    )
    outcome = settings.RAZORPAY_SANDBOX_REFUND_OUTCOME
    if outcome != "pending":
        _on_commit("settle_refund_task", refund.id, outcome)
    return refund


def settle_refund(refund_id: str, outcome: str) -> SandboxRefund:
    """Settle a pending refund as the bank would: ``processed`` (the payment's refunded amount and
    refund_status move) or ``failed``; each sends its webhook. A settled refund stays as it is,
    so a task that runs twice does no harm; ``pending`` leaves it for later."""
    if outcome not in REFUND_OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(REFUND_OUTCOMES)}")
    with transaction.atomic():
        payment_id = (
            SandboxRefund.objects.filter(pk=refund_id).values_list("payment_id", flat=True).first()
        )
        if payment_id is None:
            raise not_found()
        # Payment before refund, as refund_create locks them.
        payment = _lock_payment(payment_id)
        refund = SandboxRefund.objects.select_for_update().get(pk=refund_id)
        if refund.status != R.PENDING or outcome == "pending":
            return refund
        refund.settled_at = timezone.now()
        if outcome == "processed":
            _move(refund, R.PROCESSED)
            refund.arn = _digits(14)
            payment.amount_refunded += refund.amount
            full = payment.amount_refunded == payment.amount
            payment.refund_status = (
                SandboxPayment.RefundStatus.FULL if full else SandboxPayment.RefundStatus.PARTIAL
            )
            if full:
                _move(payment, P.REFUNDED)
            payment.save()
        else:
            _move(refund, R.FAILED)
        refund.save()
        payload = {
            "refund": entities.refund_entity(refund),
            "payment": entities.payment_entity(payment),
        }
        _events_record([(f"refund.{outcome}", payload, refund.id)])
        return refund


# --- Webhooks ------------------------------------------------------------------------------------
def webhook_delivery_order(event_ids: list[str], *, chaos: bool) -> list[str]:
    """In order, once each; or, in chaos, the batch backwards and then backwards again, so a
    receiver sees captured before authorized and every event twice."""
    if not chaos:
        return list(event_ids)
    backwards = list(reversed(event_ids))
    return backwards + backwards


def _events_record(events: list[tuple[str, dict[str, dict], str]]) -> list[SandboxWebhookEvent]:
    """Store a batch of events (name, payload, entity id) and send them after commit."""
    now = timezone.now()
    rows = []
    for name, payload, entity_id in events:
        body = entities.event_body(event=name, payload=payload, created_at=entities.unix(now))
        rows.append(
            SandboxWebhookEvent.objects.create(
                event=name,
                body=json.dumps(body, separators=(",", ":")),
                entity_id=entity_id,
                created_at=now,
            )
        )
    order = webhook_delivery_order(
        [row.id for row in rows], chaos=settings.RAZORPAY_SANDBOX_WEBHOOK_CHAOS
    )
    _on_commit("deliver_webhooks", order)
    return rows


def webhook_headers(event: SandboxWebhookEvent) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Razorpay-Signature": hmac_hex(settings.RAZORPAY_WEBHOOK_SECRET, event.body.encode()),
        "X-Razorpay-Event-Id": event.id,
        "User-Agent": "Razorpay-Webhook/v1 (sandbox)",
    }


def webhook_deliver(*, event_id: str) -> bool:
    """One POST of the stored body to the merchant's webhook URL; True on a 2xx reply."""
    event = SandboxWebhookEvent.objects.get(pk=event_id)
    status: int | None = None
    error = ""
    try:
        with transport.session() as http:
            response = http.post(
                settings.RAZORPAY_SANDBOX_WEBHOOK_URL,
                data=event.body.encode(),
                headers=webhook_headers(event),
                timeout=WEBHOOK_TIMEOUT,
                allow_redirects=False,
            )
        status = response.status_code
        if not 200 <= status < 300:
            # An error page's HTML says nothing a person can read in the console; text may.
            html = "html" in response.headers.get("Content-Type", "")
            detail = "" if html else response.text.strip()[:200]
            error = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
    ok = not error
    # F() because a chaos twin of this delivery may be counting at the same moment.
    SandboxWebhookEvent.objects.filter(pk=event_id).update(
        deliveries=F("deliveries") + 1,
        last_status=status,
        last_error=error[:300],
        last_delivered_at=timezone.now(),
    )
    if not ok:
        log.warning("sandbox webhook %s (%s) not accepted: %s", event_id, event.event, error)
    return ok


def webhook_redeliver(*, event_id: str) -> None:
    """Send an event again, same body and event id: one attempt, queued on commit."""
    if not SandboxWebhookEvent.objects.filter(pk=event_id).exists():
        raise not_found()
    _on_commit("deliver_webhook", event_id, retry=False)


def webhook_backoff(attempt: int) -> datetime.timedelta:
    """5 s, 20 s, 80 s, 320 s: the wait after the n-th failed delivery (Razorpay spreads its
    retries over a day; the sandbox keeps the shape, not the patience)."""
    return datetime.timedelta(seconds=5 * 4 ** max(0, attempt - 1))
