"""Invoices in any status, reached only through the services, as a billing admin would.

Nothing here writes a status, an amount or a timeline row itself: every invoice a test gets has
the history the services give it, so a test of an action starts from a state the product can
really be in.
"""

import contextlib
import datetime
from collections.abc import Sequence
from decimal import Decimal
from zoneinfo import ZoneInfo

import time_machine
from django.contrib.auth.models import User
from django.utils import timezone

from invoices import services
from invoices.models import (
    Dispute,
    Invoice,
    InvoiceEvent,
    InvoiceLine,
    InvoiceSequence,
    OutboundEmail,
)
from invoices.services import LineData
from payments.models import Payment, Refund
from payments.services import payment_record_manual, refund_record
from tenants.models import Tenant
from usage.models import Meter, UsageRecord

S = Invoice.Status
IST = ZoneInfo("Asia/Kolkata")

# 100 vCPU-hours at ₹10.00 = ₹1,000.00; Acme is in Maharashtra like the provider, so CGST 9% +
# SGST 9% = ₹90.00 each and the total is ₹1,180.00.
DEFAULT_LINES: tuple[LineData, ...] = (
    LineData(
        description="Compute: vCPU-hours, ap-south-1",
        quantity=Decimal("100"),
        unit_price=Decimal("10.00"),
        kind=InvoiceLine.Kind.USAGE,
        unit="vCPU-hour",
    ),
)
DEFAULT_TOTAL = Decimal("1180.00")
PART_PAYMENT = Decimal("500.00")
ISSUED_DAYS_AGO = 30  # an overdue invoice was issued this long ago (payment terms: 15 days)
DISPUTE_REASON = "The vCPU-hours look doubled for the second week."


def today() -> datetime.date:
    return timezone.localdate()


def noon_ist(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(12, 0), tzinfo=IST)


def usage_record(
    tenant: Tenant,
    meter: str,
    quantity: str,
    start: datetime.datetime,
    key: str,
    dimension: str = "",
) -> UsageRecord:
    """An hour of one VM's usage of ``meter`` (its code) from ``start``, as the API stores it."""
    return UsageRecord.objects.create(
        tenant=tenant,
        meter=Meter.objects.get(code=meter),
        resource_id="vm-1",
        quantity=Decimal(quantity),
        window_start=start,
        window_end=start + datetime.timedelta(hours=1),
        idempotency_key=key,
        dimension_value=dimension,
    )


class InvoiceBuilder:
    """``make_invoice(status, ...)``: an invoice walked to ``status`` through the services.

    * ``paid``: rupees received before the last step (partially_paid: ₹500, paid and refunded:
      the total, overdue: nothing);
    * ``refund``: rupees refunded of the first payment (refunded: all of it);
    * ``dispute_by``: a customer who reports a problem as soon as the invoice is sent;
    * ``voided_from``: the status a voided invoice was voided in (draft, pending, sent, overdue).
    """

    def __init__(self, *, staff: User, tenant: Tenant) -> None:
        self.staff = staff
        self.tenant = tenant

    def __call__(
        self,
        status: str = S.DRAFT,
        *,
        tenant: Tenant | None = None,
        lines: Sequence[LineData] = DEFAULT_LINES,
        discount: Decimal = Decimal("0.00"),
        paid: Decimal | None = None,
        refund: Decimal | None = None,
        dispute_by: User | None = None,
        voided_from: str = S.SENT,
        due_date: datetime.date | None = None,
    ) -> Invoice:
        staff = self.staff
        if status == S.VOIDED:
            invoice = self(
                voided_from,
                tenant=tenant,
                lines=lines,
                discount=discount,
                paid=paid,
                dispute_by=dispute_by,
                due_date=due_date,
            )
            services.invoice_void(invoice=invoice, actor=staff, reason="Raised in error")
            return reload(invoice)

        # An overdue invoice was issued, sent (and perhaps part paid) a month ago; the daily
        # sweep then finds it past its due date today, and everything after happens today.
        issued = (
            time_machine.travel(noon_ist(today() - datetime.timedelta(days=ISSUED_DAYS_AGO)))
            if status == S.OVERDUE
            else contextlib.nullcontext()
        )
        with issued:
            invoice = services.invoice_create(
                tenant=tenant or self.tenant,
                lines=lines,
                actor=staff,
                discount=discount,
                due_date=due_date,
            )
            if status == S.DRAFT:
                return reload(invoice)

            services.invoice_finalize(invoice=invoice, actor=staff)
            if status == S.PENDING:
                return reload(invoice)

            services.invoice_send(invoice=invoice, actor=staff)
            if dispute_by is not None:
                services.dispute_open(invoice=invoice, actor=dispute_by, reason=DISPUTE_REASON)
            if status == S.SENT:
                return reload(invoice)

            invoice = reload(invoice)
            if paid is None:
                paid = {
                    S.PARTIALLY_PAID: PART_PAYMENT,
                    S.PAID: invoice.total,
                    S.REFUNDED: invoice.total,
                }.get(status, Decimal("0.00"))
            if paid:
                self.pay(invoice, paid)

        if status == S.OVERDUE:
            assert services.invoice_mark_overdue(invoice=invoice) is not None
        if status == S.REFUNDED:
            payment = invoice.payments.order_by("id").first()
            assert payment is not None, "a refunded invoice needs a payment"
            refund_record(
                invoice=invoice,
                payment=payment,
                amount=payment.amount if refund is None else refund,
                reason="Service credit for the outage of 3 March",
                actor=staff,
            )
        invoice = reload(invoice)
        assert invoice.status == status, f"built {invoice.status}, wanted {status}"
        return invoice

    def pay(self, invoice: Invoice, amount: Decimal, *, actor: User | None = None) -> Payment:
        return payment_record_manual(
            invoice=invoice,
            amount=amount,
            method=Payment.Method.NEFT,
            reference="UTR0001",
            received_on=today(),
            actor=actor or self.staff,
        )


def reload(invoice: Invoice) -> Invoice:
    return Invoice.objects.get(pk=invoice.pk)


def snapshot(invoice: Invoice) -> dict[str, object]:
    """Everything an action on ``invoice`` could write, to compare before and after a refusal."""
    return {
        "invoice": Invoice.objects.filter(pk=invoice.pk).values().get(),
        "lines": list(InvoiceLine.objects.filter(invoice=invoice).values()),
        "events": list(InvoiceEvent.objects.filter(invoice=invoice).values()),
        "payments": list(Payment.objects.filter(invoice=invoice).values()),
        "refunds": list(Refund.objects.filter(invoice=invoice).values()),
        "emails": list(OutboundEmail.objects.filter(invoice=invoice).values()),
        "disputes": list(Dispute.objects.filter(invoice=invoice).values()),
        "invoice_count": Invoice.objects.count(),
        "sequences": list(InvoiceSequence.objects.values()),
    }
