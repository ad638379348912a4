"""Money in and out of invoices: manual payments and refunds, and Razorpay's Pay Now, callback,
webhooks, refunds and reconciliation."""

import datetime
import json
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing_portal.lib.money import money_round
from invoices import services as invoice_services
from invoices.lifecycle import (
    InvoiceActionError,
    check_action,
    invoice_event,
    invoice_lock,
    status_refusal,
)
from invoices.models import Invoice, InvoiceEvent, OutboundEmail
from payments import gateway
from payments.models import Payment, Refund, WebhookEvent
from tenants.roles import BILLING_ADMIN

log = logging.getLogger(__name__)

MANUAL_METHODS = [m for m in Payment.Method.values if m != Payment.Method.RAZORPAY]


@transaction.atomic
def payment_record_manual(
    *,
    invoice: Invoice,
    amount: Decimal,
    method: str,
    reference: str,
    received_on: datetime.date,
    actor: User,
) -> Payment:
    """A payment received outside the gateway (bank transfer, UPI, cheque, cash)."""
    invoice = invoice_lock(invoice.pk)
    check_action(invoice, actor, "record_payment")
    if method not in MANUAL_METHODS:
        raise InvoiceActionError("Choose how the money was received.")
    amount = money_round(amount)
    if amount <= 0:
        raise InvoiceActionError("A payment is more than ₹0.")
    if amount > invoice.balance_due:
        raise InvoiceActionError(
            f"₹{amount} is more than the balance due of ₹{invoice.balance_due}: an overpayment "
            "cannot be recorded."
        )
    if received_on > timezone.localdate():
        raise InvoiceActionError("The date received cannot be in the future.")
    payment = Payment.objects.create(
        invoice=invoice,
        tenant=invoice.tenant,
        amount=amount,
        currency=invoice.currency,
        method=method,
        status=Payment.Status.CAPTURED,
        reference=reference.strip(),
        received_on=received_on,
        recorded_by=actor,
        captured_at=timezone.now(),
    )
    label = Payment.Method(method).label
    invoice_services.invoice_apply_payment(
        invoice=invoice,
        amount=amount,
        actor=actor,
        note=f"{label}{f', ref {payment.reference}' if payment.reference else ''}",
        received_on=received_on,
    )
    invoice_services.lift_automatic_suspension(tenant=invoice.tenant)
    invoice_services.email_queue(
        invoice=invoice,
        kind=OutboundEmail.Kind.RECEIPT,
        step=f"payment-{payment.pk}",
        to=[invoice.tenant.billing_email],
        context={"payment": payment},
    )
    return payment


def _refund_locked(
    *, invoice: Invoice, payment: Payment, amount: Decimal, reason: str, actor: User
) -> tuple[Invoice, Payment, Decimal]:
    """The invoice and the payment locked, and the refund checked against them: a captured payment
    that reached the invoice, at most what is left of it (pending refunds count), with a reason."""
    invoice = invoice_lock(invoice.pk)
    check_action(invoice, actor, "refund")
    locked = Payment.objects.select_for_update().filter(pk=payment.pk, invoice=invoice).first()
    if locked is None:
        raise InvoiceActionError("That payment was not made against this invoice.")
    amount = money_round(amount)
    if locked.status != Payment.Status.CAPTURED or (
        locked.method == Payment.Method.RAZORPAY and not locked.applied_at
    ):
        raise InvoiceActionError("Only a captured payment applied to the invoice can be refunded.")
    if amount <= 0 or amount > locked.refundable:
        raise InvoiceActionError(
            f"A refund of this payment is more than ₹0 and at most ₹{locked.refundable}."
        )
    if not reason.strip():
        raise InvoiceActionError("Give a reason for the refund.")
    return invoice, locked, amount


@transaction.atomic
def refund_record(
    *, invoice: Invoice, payment: Payment, amount: Decimal, reason: str, actor: User
) -> Refund:
    """A refund made outside the gateway, against one captured payment."""
    invoice, payment, amount = _refund_locked(
        invoice=invoice, payment=payment, amount=amount, reason=reason, actor=actor
    )
    refund = Refund.objects.create(
        payment=payment,
        invoice=invoice,
        amount=amount,
        status=Refund.Status.PROCESSED,
        reason=reason.strip()[:300],
        recorded_by=actor,
        processed_at=timezone.now(),
    )
    payment.amount_refunded += amount
    payment.save(update_fields=["amount_refunded"])
    invoice_services.invoice_apply_refund(
        invoice=invoice, amount=amount, actor=actor, note=reason.strip()
    )
    return refund


# --- Razorpay: Pay Now, the callback, webhooks, refunds, reconciliation ---------------------------
#
# Every piece of news about a gateway payment (the checkout's callback, a webhook, a fetch by the
# reconciliation or the Refresh button) ends in ``payment_settle``: under the invoice's row lock
# and the payment's, it applies captured money once (``applied_at``), moves the attempt's status
# forward only (a capture is never undone by a late "failed" or "authorized"), and flags for a
# person what it must not apply. Calls to the gateway are made outside any transaction.

GATEWAY_OPEN = [Payment.Status.CREATED, Payment.Status.PROCESSING]
RECONCILE_AFTER = datetime.timedelta(minutes=15)
ABANDONED_AFTER = datetime.timedelta(hours=24)


def pay_now_start(*, invoice: Invoice, amount: Decimal, actor: User) -> Payment:
    """Create a Razorpay order for ``amount`` of the invoice's balance and its Payment (created).

    The order is created first, outside a transaction (the sandbox answers from this same server);
    a Payment row without an order never exists, and an order without a row is harmless: nobody can
    reach its checkout.
    """
    check_action(invoice, actor, "pay")
    amount = money_round(amount)
    if amount < 1:
        raise InvoiceActionError("Pay at least ₹1.")
    if amount > invoice.balance_due:
        raise InvoiceActionError(
            f"₹{amount} is more than the balance due of ₹{invoice.balance_due}."
        )
    order = gateway.create_order(
        amount=amount,
        currency=invoice.currency,
        receipt=invoice.number or f"draft-{invoice.pk}",
        notes={"invoice_id": str(invoice.pk), "tenant_id": str(invoice.tenant_id)},
    )
    if order.amount != amount:
        raise gateway.GatewayRejected("The gateway created an order for another amount.")
    with transaction.atomic():
        payment = Payment.objects.create(
            invoice=invoice,
            tenant=invoice.tenant,
            amount=amount,
            currency=invoice.currency,
            method=Payment.Method.RAZORPAY,
            status=Payment.Status.CREATED,
            gateway_order_id=order.id,
            recorded_by=actor,
        )
        invoice_event(
            invoice=invoice,
            type=InvoiceEvent.Type.PAYMENT_STARTED,
            actor=actor,
            amount=amount,
            note=f"Razorpay order {order.id}",
        )
    return payment


@dataclass(frozen=True)
class Settled:
    payment: Payment
    applied: bool  # this call put the money on the invoice
    outcome: str


def _flag(payment: Payment, invoice: Invoice, reason: str) -> None:
    """Keep a captured payment aside for a person; billing admins are told once."""
    if payment.review_reason:
        return
    payment.review_reason = reason[:300]
    invoice_event(
        invoice=invoice,
        type=InvoiceEvent.Type.PAYMENT_REVIEW,
        actor=None,
        amount=payment.amount,
        note=reason,
    )
    admins = list(
        User.objects.filter(groups__name=BILLING_ADMIN, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if admins:
        invoice_services.email_queue(
            invoice=invoice,
            kind=OutboundEmail.Kind.PAYMENT_REVIEW,
            step=f"payment-review-{payment.pk}",
            to=admins,
            context={"payment": payment},
        )
    log.warning("payment %s needs review: %s", payment.pk, reason)


def _why_not_applicable(payment: Payment, invoice: Invoice, news: gateway.Payment) -> str | None:
    if news.currency != payment.currency or news.amount != payment.amount:
        return (
            f"Razorpay captured {news.currency} {news.amount} but the order was for "
            f"{payment.currency} {payment.amount}: refund it or record the right amount by hand."
        )
    refusal = status_refusal(invoice, "record_payment")
    if refusal or news.amount > invoice.balance_due:
        return (
            f"Captured ₹{news.amount} after the invoice became "
            f"{invoice.get_status_display().lower()} with ₹{invoice.balance_due} due: refund "
            "what it cannot take."
        )
    return None


@transaction.atomic
def payment_settle(*, payment_id: int, news: gateway.Payment, source: str) -> Settled:
    """Bring one gateway Payment up to date with what the gateway says of one of its payments."""
    payment_row = Payment.objects.filter(pk=payment_id).values("invoice_id").get()
    invoice = invoice_lock(payment_row["invoice_id"])
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    if news.order_id != payment.gateway_order_id:
        return Settled(payment, False, "the payment belongs to another order")

    if news.money_taken:
        if payment.applied_at or payment.review_reason:
            if payment.gateway_payment_id not in (None, news.id):
                _flag(
                    payment,
                    invoice,
                    f"A second payment {news.id} of ₹{news.amount} was captured on order "
                    f"{payment.gateway_order_id}: refund one of them.",
                )
                payment.save(update_fields=["review_reason", "updated_at"])
            return Settled(payment, False, "already settled")
        payment.status = Payment.Status.CAPTURED
        payment.gateway_payment_id = news.id
        payment.gateway_method = news.method
        payment.reference = news.id
        payment.failure_reason = ""
        payment.captured_at = payment.captured_at or timezone.now()
        payment.received_on = timezone.localdate()
        problem = _why_not_applicable(payment, invoice, news)
        if problem:
            _flag(payment, invoice, problem)
            payment.save()
            return Settled(payment, False, "captured, kept for review")
        payment.applied_at = timezone.now()
        payment.save()
        method = f" ({news.method.upper() if news.method == 'upi' else news.method})"
        invoice_services.invoice_apply_payment(
            invoice=invoice,
            amount=payment.amount,
            actor=None,
            note=f"Razorpay{method if news.method else ''}, {news.id}",
            received_on=payment.received_on,
        )
        invoice_services.lift_automatic_suspension(tenant=invoice.tenant)
        invoice_services.email_queue(
            invoice=invoice,
            kind=OutboundEmail.Kind.RECEIPT,
            step=f"payment-{payment.pk}",
            to=[invoice.tenant.billing_email],
            context={"payment": payment},
        )
        log.info("payment %s applied to invoice %s from %s", payment.pk, invoice.pk, source)
        return Settled(payment, True, "applied")

    if payment.status == Payment.Status.CAPTURED:
        return Settled(payment, False, "captured already")
    if news.status == "authorized":
        # Captured automatically in a moment (the order asks for it): shown as Processing.
        payment.status = Payment.Status.PROCESSING
        payment.gateway_payment_id = news.id
        payment.gateway_method = news.method
        payment.failure_reason = ""
        payment.save()
        return Settled(payment, False, "processing")
    if news.status == "failed":
        # A payer may fail and try again in the same checkout: a late failure of an earlier
        # attempt must not hide a later one that is going through.
        if payment.status == Payment.Status.PROCESSING and payment.gateway_payment_id != news.id:
            return Settled(payment, False, "an older attempt failed")
        if payment.status == Payment.Status.FAILED and payment.gateway_payment_id == news.id:
            return Settled(payment, False, "failed already")
        payment.status = Payment.Status.FAILED
        payment.gateway_payment_id = news.id
        payment.gateway_method = news.method
        payment.failure_reason = (news.error_description or "The payment failed.")[:300]
        payment.save()
        invoice_event(
            invoice=invoice,
            type=InvoiceEvent.Type.PAYMENT_FAILED,
            actor=None,
            amount=payment.amount,
            note=f"{payment.failure_reason} ({news.id})",
        )
        return Settled(payment, False, "failed")
    return Settled(payment, False, f"nothing to do for a payment {news.status or 'without status'}")


class CallbackError(Exception):
    """The checkout's callback could not be trusted; nothing was changed."""


def callback_handle(*, payment: Payment, data: dict[str, str]) -> Payment:
    """The payer is back from the checkout with a signed success or an (unsigned) failure.

    Success: the signature must be over *our* order id (never the posted one) and the payment id;
    the payment is then fetched from the gateway, so only what the gateway confirms is applied.
    Failure: the posted reason is shown only once the gateway confirms the attempt failed.
    """
    order_id = payment.gateway_order_id or ""
    payment_id = data.get("razorpay_payment_id", "")
    if payment_id:
        if not gateway.verify_payment_signature(
            order_id=order_id, payment_id=payment_id, signature=data.get("razorpay_signature", "")
        ):
            raise CallbackError("The payment could not be verified.")
        news = gateway.fetch_payment(payment_id)
        return payment_settle(payment_id=payment.pk, news=news, source="callback").payment
    failed_id = _failed_payment_id(data)
    if failed_id:
        news = gateway.fetch_payment(failed_id)
        if news.order_id == order_id:
            return payment_settle(payment_id=payment.pk, news=news, source="callback").payment
    return payment


def _failed_payment_id(data: dict[str, str]) -> str:
    try:
        metadata = json.loads(data.get("error[metadata]") or "{}")
    except ValueError:
        return ""
    value = metadata.get("payment_id") if isinstance(metadata, dict) else None
    return value if isinstance(value, str) else ""


def payment_sync(*, payment: Payment) -> Payment:
    """Ask the gateway about an order still open (Refresh, and the reconciliation)."""
    if payment.method != Payment.Method.RAZORPAY or not payment.gateway_order_id:
        return payment
    attempts = gateway.order_payments(payment.gateway_order_id)
    # The captured one wins; else the newest attempt tells the state.
    best = next((a for a in attempts if a.money_taken), None) or (
        attempts[-1] if attempts else None
    )
    if best is not None:
        return payment_settle(payment_id=payment.pk, news=best, source="sync").payment
    if payment.status == Payment.Status.CREATED and payment.created_at < (
        timezone.now() - ABANDONED_AFTER
    ):
        Payment.objects.filter(pk=payment.pk, status=Payment.Status.CREATED).update(
            status=Payment.Status.FAILED,
            failure_reason="No payment was made for this order.",
            updated_at=timezone.now(),
        )
        payment.refresh_from_db()
    return payment


def invoice_refresh_payments(*, invoice: Invoice) -> tuple[int, list[str]]:
    """The Refresh button: every open attempt and pending refund of the invoice, asked now."""
    changed, problems = 0, []
    for payment in Payment.objects.filter(invoice=invoice, status__in=GATEWAY_OPEN).exclude(
        gateway_order_id=None
    ):
        try:
            after = payment_sync(payment=payment)
        except gateway.GatewayFailure as error:
            problems.append(str(error))
            continue
        changed += after.status != payment.status
    for refund in Refund.objects.filter(
        invoice=invoice, status=Refund.Status.PENDING, payment__method=Payment.Method.RAZORPAY
    ).select_related("payment"):
        try:
            after_refund = refund_sync(refund=refund)
        except gateway.GatewayFailure as error:
            problems.append(str(error))
            continue
        changed += after_refund.status != refund.status
    return changed, problems


# --- webhooks -----------------------------------------------------------------------------------


def webhook_receive(*, body: bytes, signature: str | None, event_id: str | None) -> WebhookEvent:
    """Store a verified event once per event id; its handling is queued on commit.

    Raises ``WebhookRefused`` (nothing stored) for a bad signature or a body that is not an event.
    """
    if not gateway.verify_webhook_signature(body=body, signature=signature):
        raise WebhookRefused("bad or missing signature")
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise WebhookRefused("the body is not JSON") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        raise WebhookRefused("the body is not an event")
    if not event_id:
        raise WebhookRefused("no X-Razorpay-Event-Id")
    entities = payload.get("payload") or {}
    payment_entity = (entities.get("payment") or {}).get("entity") or {}
    order_entity = (entities.get("order") or {}).get("entity") or {}
    with transaction.atomic():
        event, created = WebhookEvent.objects.get_or_create(
            event_id=event_id[:60],
            defaults={
                "event": payload["event"][:40],
                "payload": payload,
                "gateway_payment_id": str(payment_entity.get("id") or "")[:40],
                "gateway_order_id": str(
                    payment_entity.get("order_id") or order_entity.get("id") or ""
                )[:40],
            },
        )
        if not created:
            WebhookEvent.objects.filter(pk=event.pk).update(deliveries=F("deliveries") + 1)
        if event.processed_at is None:
            transaction.on_commit(lambda: _dispatch_webhook(event.pk))
    return event


class WebhookRefused(Exception):
    pass


def _dispatch_webhook(event_pk: int) -> None:
    from payments.tasks import handle_webhook_event

    try:
        handle_webhook_event.delay(event_pk)
    except Exception:
        log.warning("webhook event %s stays unhandled: the broker did not take it", event_pk)


def webhook_handle(*, event_pk: int) -> str:
    """Act on a stored event once; a second delivery or a second worker finds it processed."""
    with transaction.atomic():
        event = (
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event_pk, processed_at=None)
            .first()
        )
        if event is None:
            return "processed already, or being processed"
        outcome = _webhook_act(event)
        event.processed_at = timezone.now()
        event.outcome = outcome[:300]
        event.save(update_fields=["processed_at", "outcome"])
        return outcome


def _webhook_act(event: WebhookEvent) -> str:
    entities = event.payload.get("payload") or {}
    if event.event.startswith("refund."):
        entity = (entities.get("refund") or {}).get("entity")
        if not entity:
            return "no refund in the event"
        return refund_settle(news=gateway.Refund.from_entity(entity), source=event.event)
    entity = (entities.get("payment") or {}).get("entity")
    if not entity:
        return "no payment in the event"
    news = gateway.Payment.from_entity(entity)
    payment = Payment.objects.filter(gateway_order_id=news.order_id).only("pk").first()
    if payment is None:
        return f"order {news.order_id or '-'} is not one of ours"
    return payment_settle(payment_id=payment.pk, news=news, source=event.event).outcome


# --- refunds through the gateway ------------------------------------------------------------------


def refund_through_gateway(
    *, invoice: Invoice, payment: Payment, amount: Decimal, reason: str, actor: User
) -> Refund:
    """Refund a captured Razorpay payment in full or in part, pending until the gateway says.

    The Refund row is committed (pending, counted against what may still be refunded) before the
    gateway is called, so two refunds at once can never exceed what was captured; the gateway's
    answer or its webhook settles it, whichever comes first.
    """
    with transaction.atomic():
        invoice, payment, amount = _refund_locked(
            invoice=invoice, payment=payment, amount=amount, reason=reason, actor=actor
        )
        if payment.method != Payment.Method.RAZORPAY or not payment.gateway_payment_id:
            raise InvoiceActionError("Only a Razorpay payment is refunded through the gateway.")
        refund = Refund.objects.create(
            payment=payment,
            invoice=invoice,
            amount=amount,
            status=Refund.Status.PENDING,
            reason=reason.strip()[:300],
            recorded_by=actor,
        )
    try:
        news = gateway.refund(
            payment_id=payment.gateway_payment_id,
            amount=amount,
            notes={"refund_id": str(refund.pk), "invoice_id": str(invoice.pk)},
            receipt=f"refund-{refund.pk}",
        )
    except gateway.GatewayRejected as error:
        Refund.objects.filter(pk=refund.pk, status=Refund.Status.PENDING).update(
            status=Refund.Status.FAILED, failure_reason=str(error)[:300]
        )
        raise InvoiceActionError(str(error)) from error
    except gateway.GatewayUnavailable as error:
        # The refund may or may not exist at the gateway: it stays pending, and its webhook
        # (whose notes name our refund) or the reconciliation settles it.
        raise InvoiceActionError(
            f"{error} The refund is recorded as pending and is settled once the gateway answers."
        ) from error
    Refund.objects.filter(pk=refund.pk, gateway_refund_id=None).update(gateway_refund_id=news.id)
    refund_settle(news=news, source="refund call")
    refund.refresh_from_db()
    return refund


def refund_settle(*, news: gateway.Refund, source: str) -> str:
    """Move a pending refund to processed (money back on the payment and the invoice) or failed."""
    if news.status not in (Refund.Status.PROCESSED, Refund.Status.FAILED):
        return f"refund {news.id} is {news.status or 'pending'}"
    ours = Refund.objects.filter(gateway_refund_id=news.id).values("pk", "invoice_id").first()
    if ours is None and str(news.notes.get("refund_id", "")).isdigit():
        ours = (
            Refund.objects.filter(
                pk=int(news.notes["refund_id"]), payment__gateway_payment_id=news.payment_id
            )
            .values("pk", "invoice_id")
            .first()
        )
    if ours is None:
        return f"refund {news.id} is not one of ours"
    with transaction.atomic():
        invoice = invoice_lock(ours["invoice_id"])
        refund = Refund.objects.select_for_update().select_related("payment").get(pk=ours["pk"])
        if refund.status != Refund.Status.PENDING:
            return f"refund {refund.pk} is {refund.status} already"
        refund.gateway_refund_id = refund.gateway_refund_id or news.id
        if news.status == Refund.Status.FAILED:
            refund.status = Refund.Status.FAILED
            refund.failure_reason = "The gateway could not process the refund."
            refund.save(update_fields=["status", "failure_reason", "gateway_refund_id"])
            return f"refund {refund.pk} failed"
        payment = Payment.objects.select_for_update().get(pk=refund.payment_id)
        refund.status = Refund.Status.PROCESSED
        refund.processed_at = timezone.now()
        refund.reference = news.id
        refund.save(update_fields=["status", "processed_at", "reference", "gateway_refund_id"])
        payment.amount_refunded += refund.amount
        payment.save(update_fields=["amount_refunded", "updated_at"])
        invoice_services.invoice_apply_refund(
            invoice=invoice,
            amount=refund.amount,
            actor=refund.recorded_by,
            note=f"{refund.reason} (Razorpay {news.id})",
        )
        log.info("refund %s processed from %s", refund.pk, source)
        return f"refund {refund.pk} processed"


def refund_sync(*, refund: Refund, now: datetime.datetime | None = None) -> Refund:
    """Ask the gateway about a pending refund. One whose call was lost (no gateway id) is looked
    for among its payment's refunds by the refund id in its notes; if the gateway has none an hour
    on, it never left and is marked failed."""
    if refund.gateway_refund_id:
        refund_settle(news=gateway.fetch_refund(refund.gateway_refund_id), source="sync")
    else:
        payment_id = refund.payment.gateway_payment_id or ""
        found = next(
            (
                r
                for r in gateway.payment_refunds(payment_id)
                if str(r.notes.get("refund_id", "")) == str(refund.pk)
            ),
            None,
        )
        if found is not None:
            Refund.objects.filter(pk=refund.pk, gateway_refund_id=None).update(
                gateway_refund_id=found.id
            )
            refund_settle(news=found, source="sync")
        elif refund.created_at < (now or timezone.now()) - datetime.timedelta(hours=1):
            Refund.objects.filter(pk=refund.pk, status=Refund.Status.PENDING).update(
                status=Refund.Status.FAILED,
                failure_reason="The gateway has no record of this refund: it was not made.",
            )
    refund.refresh_from_db()
    return refund


# --- reconciliation -------------------------------------------------------------------------------


def reconcile(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Every 15 minutes: orders still open after 15 minutes, pending refunds, unhandled events."""
    now = now or timezone.now()
    counts = {"payments": 0, "changed": 0, "refunds": 0, "events": 0, "errors": 0}
    open_payments = Payment.objects.filter(
        method=Payment.Method.RAZORPAY,
        status__in=GATEWAY_OPEN,
        created_at__lt=now - RECONCILE_AFTER,
    ).exclude(gateway_order_id=None)
    for payment in open_payments.order_by("created_at")[:500]:
        counts["payments"] += 1
        try:
            after = payment_sync(payment=payment)
        except gateway.GatewayFailure as error:
            counts["errors"] += 1
            log.warning("reconcile payment %s: %s", payment.pk, error)
            continue
        counts["changed"] += after.status != payment.status
    pending = Refund.objects.filter(
        status=Refund.Status.PENDING,
        created_at__lt=now - RECONCILE_AFTER,
        payment__method=Payment.Method.RAZORPAY,
    ).select_related("payment")
    for refund in pending.order_by("created_at")[:500]:
        try:
            refund_sync(refund=refund, now=now)
            counts["refunds"] += 1
        except gateway.GatewayFailure as error:
            counts["errors"] += 1
            log.warning("reconcile refund %s: %s", refund.pk, error)
    stale_events = WebhookEvent.objects.filter(
        processed_at=None, received_at__lt=now - datetime.timedelta(minutes=5)
    )
    for event_pk in stale_events.values_list("pk", flat=True)[:500]:
        webhook_handle(event_pk=event_pk)
        counts["events"] += 1
    return counts
