"""Money recorded by staff: manual payments and refunds. (Razorpay arrives with issue 5.)"""

import datetime
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from billing_portal.lib.money import money_round
from invoices import services as invoice_services
from invoices.lifecycle import InvoiceActionError, check_action, invoice_lock
from invoices.models import Invoice, OutboundEmail
from payments.models import Payment, Refund

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


@transaction.atomic
def refund_record(
    *, invoice: Invoice, payment: Payment, amount: Decimal, reason: str, actor: User
) -> Refund:
    """A refund made outside the gateway, against one captured payment."""
    invoice = invoice_lock(invoice.pk)
    check_action(invoice, actor, "refund")
    locked = Payment.objects.select_for_update().filter(pk=payment.pk, invoice=invoice).first()
    if locked is None:
        raise InvoiceActionError("That payment was not made against this invoice.")
    payment = locked
    amount = money_round(amount)
    if payment.status != Payment.Status.CAPTURED:
        raise InvoiceActionError("Only a captured payment can be refunded.")
    if amount <= 0 or amount > payment.refundable:
        raise InvoiceActionError(
            f"A refund of this payment is more than ₹0 and at most ₹{payment.refundable}."
        )
    if not reason.strip():
        raise InvoiceActionError("Give a reason for the refund.")
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
