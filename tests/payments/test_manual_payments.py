"""Payments staff record by hand (bank transfer, cheque, cash) and refunds against them."""

import datetime
import re
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from invoices.lifecycle import InvoiceActionError
from invoices.models import Invoice, OutboundEmail
from invoices.services import email_queue
from payments.models import Payment, Refund
from payments.services import payment_record_manual, refund_record
from tests.invoices.builders import DEFAULT_TOTAL, IST, reload, snapshot, today

S = Invoice.Status
D = Decimal


def pay(invoice, actor, amount, *, method=Payment.Method.NEFT, received_on=None, reference=""):
    return payment_record_manual(
        invoice=invoice,
        amount=amount,
        method=method,
        reference=reference,
        received_on=received_on or today(),
        actor=actor,
    )


def refund(invoice, actor, payment, amount, reason="Duplicate transfer"):
    return refund_record(
        invoice=invoice, payment=payment, amount=amount, reason=reason, actor=actor
    )


def test_a_part_payment_then_the_rest_move_sent_to_partially_paid_to_paid(
    make_invoice, billing_admin
):
    invoice = make_invoice(S.SENT)
    assert (invoice.total, invoice.balance_due) == (DEFAULT_TOTAL, DEFAULT_TOTAL)

    first = pay(invoice, billing_admin, D("500.00"), reference=" UTR0042 ")
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.balance_due) == (
        S.PARTIALLY_PAID,
        D("500.00"),
        D("680.00"),
    )
    assert invoice.paid_at is None
    assert (first.status, first.amount, first.reference, first.tenant) == (
        "captured",
        D("500.00"),
        "UTR0042",
        invoice.tenant,
    )
    assert (first.received_on, first.recorded_by) == (today(), billing_admin)
    assert first.captured_at is not None

    second = pay(invoice, billing_admin, D("680.00"), method=Payment.Method.CHEQUE)
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.balance_due) == (
        S.PAID,
        DEFAULT_TOTAL,
        D("0.00"),
    )
    assert invoice.paid_at is not None
    assert second.get_method_display() == "Cheque"
    payments = invoice.events.filter(type="payment").order_by("id")
    assert [(e.from_status, e.to_status, e.amount, e.note) for e in payments] == [
        (S.SENT, S.PARTIALLY_PAID, D("500.00"), "Bank transfer (NEFT), ref UTR0042"),
        (S.PARTIALLY_PAID, S.PAID, D("680.00"), "Cheque"),
    ]
    assert {e.actor for e in payments} == {billing_admin}


def test_the_paid_date_is_the_day_the_money_arrived(make_invoice, billing_admin):
    invoice = make_invoice(S.SENT)
    arrived = today() - datetime.timedelta(days=3)
    pay(invoice, billing_admin, DEFAULT_TOTAL, received_on=arrived)
    assert timezone.localtime(reload(invoice).paid_at).date() == arrived


def test_an_amount_is_rounded_to_the_paisa(make_invoice, billing_admin):
    invoice = make_invoice(S.SENT)
    payment = pay(invoice, billing_admin, D("100.005"))
    assert payment.amount == D("100.01")
    assert reload(invoice).balance_due == D("1079.99")


@pytest.mark.parametrize(
    ("status", "amount"),
    [(S.SENT, D("1180.01")), (S.PARTIALLY_PAID, D("680.01")), (S.OVERDUE, D("5000.00"))],
)
def test_an_overpayment_is_refused_and_nothing_is_written(
    make_invoice, billing_admin, status, amount
):
    invoice = make_invoice(status)
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="an overpayment cannot be recorded") as refused:
        pay(invoice, billing_admin, amount)
    assert f"balance due of ₹{invoice.balance_due}" in refused.value.messages[0]
    assert snapshot(invoice) == before


@pytest.mark.parametrize("amount", [D("0"), D("0.00"), D("-1.00"), D("0.004")])
def test_a_zero_or_negative_payment_is_refused(make_invoice, billing_admin, amount):
    invoice = make_invoice(S.SENT)
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="more than ₹0"):
        pay(invoice, billing_admin, amount)
    assert snapshot(invoice) == before


def test_a_payment_received_in_the_future_is_refused(make_invoice, billing_admin):
    invoice = make_invoice(S.SENT)
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="cannot be in the future"):
        pay(invoice, billing_admin, D("100.00"), received_on=today() + datetime.timedelta(days=1))
    assert snapshot(invoice) == before


def test_today_means_today_in_india_just_after_midnight(make_invoice, billing_admin):
    invoice = make_invoice(S.SENT)
    due = invoice.due_date
    half_past_midnight = datetime.datetime.combine(due, datetime.time(0, 30), tzinfo=IST)
    with time_machine.travel(half_past_midnight):  # still the day before in UTC
        payment = pay(invoice, billing_admin, D("100.00"), received_on=due)
    assert payment.received_on == due


@pytest.mark.parametrize("method", [Payment.Method.RAZORPAY, "bitcoin", ""])
def test_a_manual_payment_needs_a_manual_method(make_invoice, billing_admin, method):
    invoice = make_invoice(S.SENT)
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="how the money was received"):
        pay(invoice, billing_admin, D("100.00"), method=method)
    assert snapshot(invoice) == before


@pytest.mark.parametrize("status", [S.DRAFT, S.PENDING, S.PAID, S.VOIDED, S.REFUNDED])
def test_a_payment_is_refused_where_nothing_can_be_due(make_invoice, billing_admin, status):
    invoice = make_invoice(status)
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError):
        pay(invoice, billing_admin, D("1.00"))
    assert snapshot(invoice) == before


def test_a_customer_cannot_record_a_payment(make_invoice, owner):
    invoice = make_invoice(S.SENT)
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="Your role cannot record payment"):
        pay(invoice, owner, D("100.00"))
    assert snapshot(invoice) == before


def test_a_receipt_is_queued_and_sent_once_per_payment(
    make_invoice, billing_admin, acme, django_capture_on_commit_callbacks
):
    invoice = make_invoice(S.SENT)
    with django_capture_on_commit_callbacks(execute=True):
        first = pay(invoice, billing_admin, D("500.00"), reference="UTR1")
        second = pay(invoice, billing_admin, D("680.00"), reference="UTR2")
    receipts = OutboundEmail.objects.filter(invoice=invoice, kind=OutboundEmail.Kind.RECEIPT)
    assert sorted(receipts.values_list("step", "status")) == sorted(
        [(f"payment-{first.pk}", "sent"), (f"payment-{second.pk}", "sent")]
    )
    assert [(m.to, m.subject) for m in mail.outbox] == [
        ([acme.billing_email], f"Payment received: ₹500.00 for invoice {invoice.number}"),
        ([acme.billing_email], f"Payment received: ₹680.00 for invoice {invoice.number}"),
    ]
    assert "Balance still due" in mail.outbox[0].body
    assert "paid in full" in mail.outbox[1].body
    # The same payment's receipt queued again (a retried request) is not queued twice.
    again = email_queue(
        invoice=reload(invoice),
        kind=OutboundEmail.Kind.RECEIPT,
        step=f"payment-{first.pk}",
        to=[acme.billing_email],
        context={"payment": first},
    )
    assert again is None
    assert receipts.count() == 2


# --- Refunds ----------------------------------------------------------------------------------


def test_a_full_refund_moves_a_paid_invoice_to_refunded(make_invoice, billing_admin):
    invoice = make_invoice(S.PAID)
    payment = invoice.payments.get()
    made = refund(invoice, billing_admin, payment, DEFAULT_TOTAL)
    invoice, payment = reload(invoice), Payment.objects.get(pk=payment.pk)
    assert (invoice.status, invoice.amount_paid, invoice.amount_refunded, invoice.refundable) == (
        S.REFUNDED,
        DEFAULT_TOTAL,
        DEFAULT_TOTAL,
        D("0.00"),
    )
    assert (payment.amount_refunded, payment.refundable) == (DEFAULT_TOTAL, D("0.00"))
    assert (made.status, made.reason, made.recorded_by) == (
        "processed",
        "Duplicate transfer",
        billing_admin,
    )
    assert made.processed_at is not None
    event = invoice.events.get(type="refund")
    assert (event.from_status, event.to_status, event.amount, event.note) == (
        S.PAID,
        S.REFUNDED,
        DEFAULT_TOTAL,
        "Duplicate transfer",
    )


@pytest.mark.parametrize("status", [S.PAID, S.PARTIALLY_PAID])
def test_a_partial_refund_moves_the_invoice_to_refunded_and_shows_the_amount(
    make_invoice, billing_admin, status
):
    invoice = make_invoice(status)
    paid = invoice.amount_paid
    refund(invoice, billing_admin, invoice.payments.get(), D("100.00"))
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.amount_refunded) == (
        S.REFUNDED,
        paid,
        D("100.00"),
    )
    assert invoice.refundable == paid - D("100.00")


def test_a_refund_is_never_more_than_what_is_left_of_its_payment(make_invoice, billing_admin):
    invoice = make_invoice(S.SENT)
    first = pay(invoice, billing_admin, D("500.00"))
    second = pay(invoice, billing_admin, D("680.00"))

    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match=re.escape("at most ₹500.00")):
        refund(invoice, billing_admin, first, D("500.01"))  # the invoice has ₹1,180 refundable
    assert snapshot(invoice) == before

    refund(invoice, billing_admin, first, D("300.00"))
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match=re.escape("at most ₹200.00")):
        refund(invoice, billing_admin, first, D("200.01"))
    assert snapshot(invoice) == before

    refund(invoice, billing_admin, first, D("200.00"))
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match=re.escape("at most ₹0.00")):
        refund(invoice, billing_admin, first, D("0.01"))
    assert snapshot(invoice) == before

    refund(invoice, billing_admin, second, D("680.00"))
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_refunded) == (S.REFUNDED, DEFAULT_TOTAL)
    assert sorted(Refund.objects.filter(invoice=invoice).values_list("amount", flat=True)) == [
        D("200.00"),
        D("300.00"),
        D("680.00"),
    ]
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="Everything received"):
        refund(invoice, billing_admin, second, D("0.01"))
    assert snapshot(invoice) == before


@pytest.mark.parametrize("amount", [D("0.00"), D("-5.00")])
def test_a_zero_or_negative_refund_is_refused(make_invoice, billing_admin, amount):
    invoice = make_invoice(S.PAID)
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="more than ₹0"):
        refund(invoice, billing_admin, invoice.payments.get(), amount)
    assert snapshot(invoice) == before


def test_a_refund_needs_a_reason(make_invoice, billing_admin):
    invoice = make_invoice(S.PAID)
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="reason"):
        refund(invoice, billing_admin, invoice.payments.get(), D("10.00"), reason="  ")
    assert snapshot(invoice) == before


@pytest.mark.parametrize("payment_status", [Payment.Status.CREATED, Payment.Status.FAILED])
def test_a_payment_that_was_not_captured_cannot_be_refunded(
    make_invoice, billing_admin, payment_status
):
    invoice = make_invoice(S.PARTIALLY_PAID)
    # A Pay Now attempt that never completed, as the gateway adapter records it.
    attempt = Payment.objects.create(
        invoice=invoice,
        tenant=invoice.tenant,
        amount=invoice.balance_due,
        method=Payment.Method.RAZORPAY,
        status=payment_status,
        gateway_order_id="order_TEST0001",
    )
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="Only a captured payment"):
        refund(invoice, billing_admin, attempt, D("10.00"))
    assert snapshot(invoice) == before


def test_finance_can_refund_but_a_customer_cannot(make_invoice, finance, owner):
    invoice = make_invoice(S.PAID)
    payment = invoice.payments.get()
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="Your role cannot"):
        refund(invoice, owner, payment, D("10.00"))
    assert snapshot(invoice) == before
    made = refund(invoice, finance, payment, D("10.00"))
    assert made.recorded_by == finance
