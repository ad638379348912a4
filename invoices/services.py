"""Every write to invoices: drafts, numbering, sending, voiding, money, disputes, the outbox."""

import datetime
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from billing_portal.lib import tax
from billing_portal.lib.email import build_templated_email
from billing_portal.lib.money import money_round
from invoices.lifecycle import (
    InvoiceActionError,
    check_action,
    invoice_event,
    invoice_lock,
    invoice_transition,
)
from invoices.models import (
    Dispute,
    Invoice,
    InvoiceLine,
    InvoiceSequence,
    OutboundEmail,
)
from tenants.models import ProviderProfile, Tenant

log = logging.getLogger(__name__)
S = Invoice.Status
ZERO = Decimal("0.00")
MAX_NUMBER_LENGTH = 16  # CGST Rule 46(b)


class DuplicatePeriodError(InvoiceActionError):
    """The tenant has a live subscription invoice for this period already."""


@dataclass(slots=True)  # not frozen: the monthly run builds tens of thousands (see tax.LineIn)
class LineData:
    description: str
    quantity: Decimal
    unit_price: Decimal  # rupees per unit
    kind: str = InvoiceLine.Kind.ONE_TIME
    unit: str = "unit"
    sac_code: str = tax.DEFAULT_SAC
    tax_rate: Decimal = tax.DEFAULT_GST_RATE
    resource_type: str = ""
    resource_name: str = ""
    period_start: datetime.date | None = None
    period_end: datetime.date | None = None
    # A rated amount (tiers, proration) that is not quantity x unit price, and how it was reached.
    priced_amount: Decimal | None = None
    pricing_detail: str = ""
    # A usage line's meter and dimension value (the monthly run's lines).
    usage_meter_id: int | None = None
    usage_dimension: str = ""
    # In an edit of a draft: the stored line these values are for (None: a new line).
    line_id: int | None = None

    @property
    def amount(self) -> Decimal:
        if self.priced_amount is not None:
            return money_round(self.priced_amount)
        return money_round(self.quantity * self.unit_price)


def today() -> datetime.date:
    return timezone.localdate()


def financial_year_of(day: datetime.date) -> int:
    """The year an Indian financial year (April to March) starts in."""
    return day.year if day.month >= 4 else day.year - 1


def format_invoice_number(prefix: str, financial_year: int, sequence: int) -> str:
    number = f"{prefix}/{financial_year % 100:02d}{(financial_year + 1) % 100:02d}/{sequence:05d}"
    if len(number) > MAX_NUMBER_LENGTH:
        raise InvoiceActionError(
            f"Invoice number {number} would exceed {MAX_NUMBER_LENGTH} characters: "
            "shorten the prefix in Settings."
        )
    return number


def _next_sequence(financial_year: int) -> int:
    # get_or_create retries a racing insert inside a savepoint; the row lock then serialises every
    # finalization of the year, and a rollback returns the number: the series stays gapless.
    InvoiceSequence.objects.get_or_create(financial_year=financial_year)
    sequence = InvoiceSequence.objects.select_for_update().get(financial_year=financial_year)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    return sequence.last_number


# --- Snapshots and arithmetic ---------------------------------------------------------------


def supplier_snapshot(provider: ProviderProfile) -> dict[str, object]:
    return {
        "legal_name": provider.legal_name,
        "trade_name": provider.trade_name,
        "gstin": provider.gstin,
        "pan": provider.pan,
        "address_lines": provider.address_lines,
        "state": provider.state,
        "state_name": provider.state_name,
        "email": provider.email,
        "phone": provider.phone,
        "website": provider.website,
        "bank": {
            "account_name": provider.bank_account_name,
            "bank_name": provider.bank_name,
            "account_number": provider.bank_account_number,
            "ifsc": provider.bank_ifsc,
            "branch": provider.bank_branch,
        },
    }


def customer_snapshot(tenant: Tenant) -> dict[str, object]:
    return {
        "display_name": tenant.display_name,
        "legal_name": tenant.legal_name,
        "gstin": tenant.gstin,
        "address_lines": tenant.address_lines,
        "state": tenant.state,
        "state_name": tenant.state_name,
        "billing_email": tenant.billing_email,
        "finance_email": tenant.finance_email,
    }


def _provider_or_refuse() -> ProviderProfile:
    provider = ProviderProfile.objects.filter(pk=1).first()
    if provider is None:
        raise InvoiceActionError(
            "The provider's details (GSTIN, address) are not set: a billing admin sets them in "
            "Settings before any invoice is issued."
        )
    return provider


def supplier_state_now(tenant: Tenant) -> str:
    """The provider's state, which decides intra- or inter-state tax (the tenant's own until the
    provider is set up, so that drafts can be priced before it is)."""
    provider = ProviderProfile.objects.filter(pk=1).first()
    return provider.state if provider else tenant.state


def price_invoice(invoice: Invoice, lines: Sequence[Any], *, supplier_state: str) -> None:
    """Price and tax a draft's lines and totals in memory (the caller writes them)."""
    place = invoice.tenant.state
    for line in lines:
        if not line.pricing_detail:  # a rated line keeps the amount its pricing gave
            line.amount = money_round(line.quantity * line.unit_price)
    try:
        totals = tax.compute(
            [tax.LineIn(line.amount, line.tax_rate) for line in lines],
            discount=invoice.discount,
            supplier_state=supplier_state,
            place_of_supply=place,
        )
    except tax.TaxError as error:
        raise InvoiceActionError(str(error)) from error
    for line, result in zip(lines, totals.lines, strict=True):
        line.discount = result.discount
        line.taxable_value = result.taxable_value
        line.cgst, line.sgst, line.igst = result.cgst, result.sgst, result.igst
    invoice.place_of_supply = place
    invoice.state_tax_name = totals.state_tax_name
    invoice.intra_state = totals.intra_state
    invoice.subtotal = totals.subtotal
    invoice.discount = totals.discount
    invoice.taxable_value = totals.taxable_value
    invoice.cgst, invoice.sgst, invoice.igst = totals.cgst, totals.sgst, totals.igst
    invoice.tax_total = totals.tax
    invoice.round_off = totals.round_off
    invoice.total = totals.total
    invoice.balance_due = totals.total - invoice.amount_paid
    invoice.line_count = len(lines)
    invoice.regular_charges = sum(
        (line.amount for line in lines if line.kind == InvoiceLine.Kind.RECURRING), ZERO
    )
    invoice.additional_charges = invoice.subtotal - invoice.regular_charges


def invoice_recompute(*, invoice: Invoice, supplier_state: str | None = None) -> Invoice:
    """Recompute a draft's lines and totals from quantities, prices, rates and the discount."""
    if invoice.status != S.DRAFT:
        raise InvoiceActionError("Issued amounts never change: void and regenerate instead.")
    lines = list(invoice.lines.all())
    price_invoice(
        invoice, lines, supplier_state=supplier_state or supplier_state_now(invoice.tenant)
    )
    InvoiceLine.objects.bulk_update(
        lines, ["amount", "discount", "taxable_value", "cgst", "sgst", "igst"]
    )
    invoice.save()
    return invoice


def line_objects(
    invoice: Invoice, lines: Sequence[LineData], make: Callable[..., Any] = InvoiceLine
) -> list[Any]:
    """Unsaved lines for a draft, numbered in order (``make``: the model, or a plain object for
    the monthly run, which writes many at once)."""
    return [
        make(
            invoice=invoice,
            position=index,
            kind=line.kind,
            description=line.description,
            resource_type=line.resource_type,
            resource_name=line.resource_name,
            sac_code=line.sac_code,
            period_start=line.period_start,
            period_end=line.period_end,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            amount=line.amount,
            pricing_detail=line.pricing_detail[:300],
            tax_rate=line.tax_rate,
            usage_meter_id=line.usage_meter_id,
            usage_dimension=line.usage_dimension,
        )
        for index, line in enumerate(lines)
    ]


# What the edit form shows of a line, and so what an edit can change.
EDITABLE = ("description", "kind", "sac_code", "quantity", "unit", "unit_price", "tax_rate")


def _edit_lines(invoice: Invoice, lines: Sequence[LineData]) -> None:
    """The draft's lines as edited, in the edit's order: a line the edit names (``line_id``)
    stays the same row, changed only where the form changed it, so that what the form does not
    show stays as it was (the usage records it billed, the one-time charge it bills, a tiered
    amount and how it was reached, the month it covers); new lines are added; the lines left out
    are removed, unless one bills usage records."""
    stored = {line.pk: line for line in invoice.lines.all()}
    kept: list[InvoiceLine] = []
    added: list[InvoiceLine] = []
    for position, data in enumerate(lines):
        line = stored.pop(data.line_id, None) if data.line_id is not None else None
        if line is None:  # new, or a line of another invoice (not this one's to edit)
            (line,) = line_objects(invoice, [data])
            line.position = position
            added.append(line)
            continue
        if line.quantity != data.quantity or line.unit_price != data.unit_price:
            line.pricing_detail = ""  # priced as edited: quantity x unit price
        for name in EDITABLE:
            setattr(line, name, getattr(data, name))
        line.position = position
        kept.append(line)
    for line in stored.values():
        _refuse_removing_usage(line)
    InvoiceLine.objects.filter(pk__in=list(stored)).delete()
    InvoiceLine.objects.bulk_update(kept, [*EDITABLE, "pricing_detail", "position"])
    InvoiceLine.objects.bulk_create(added)


def _refuse_removing_usage(line: InvoiceLine) -> None:
    """A usage line stays on its draft: the records it billed would otherwise be billed by no
    line (the tenant's usage cursor has passed them), neither shown nor billed again."""
    from invoices import generation

    count = generation.line_records(line).count()
    if count:
        raise InvoiceActionError(
            f"“{line.description}” bills {count:,} usage record{'s' if count != 1 else ''}"
            ": change its quantity or price instead, or regenerate the invoice."
        )


def invoice_build(
    *,
    tenant: Tenant,
    lines: Sequence[LineData],
    actor: User | None,
    supplier_state: str,
    kind: str = Invoice.Kind.ONE_TIME,
    discount: Decimal = ZERO,
    due_date: datetime.date | None = None,
    period_start: datetime.date | None = None,
    period_end: datetime.date | None = None,
    notes: str = "",
    make_invoice: Callable[..., Any] = Invoice,
    make_line: Callable[..., Any] = InvoiceLine,
) -> tuple[Any, list[Any]]:
    """A new draft and its lines, priced and taxed, not yet written (the monthly run writes many
    at once, as plain objects made by ``make_invoice`` and ``make_line``; ``invoice_create``
    writes one)."""
    if not lines:
        raise InvoiceActionError("An invoice needs at least one line.")
    invoice = make_invoice(
        tenant=tenant,
        kind=kind,
        discount=discount,
        due_date=due_date,
        period_start=period_start,
        period_end=period_end,
        notes=notes,
        created_by=actor if actor is not None and actor.is_authenticated else None,
        currency=tenant.currency,
    )
    objects = line_objects(invoice, lines, make_line)
    price_invoice(invoice, objects, supplier_state=supplier_state)
    return invoice, objects


# --- Drafts ---------------------------------------------------------------------------------


@transaction.atomic
def invoice_create(
    *,
    tenant: Tenant,
    lines: Sequence[LineData],
    actor: User | None,
    kind: str = Invoice.Kind.ONE_TIME,
    discount: Decimal = ZERO,
    due_date: datetime.date | None = None,
    period_start: datetime.date | None = None,
    period_end: datetime.date | None = None,
    notes: str = "",
) -> Invoice:
    """A new draft with its lines priced and taxed."""
    invoice, objects = invoice_build(
        tenant=tenant,
        lines=lines,
        actor=actor,
        supplier_state=supplier_state_now(tenant),
        kind=kind,
        discount=discount,
        due_date=due_date,
        period_start=period_start,
        period_end=period_end,
        notes=notes,
    )
    try:
        with transaction.atomic():
            invoice.save()
    except IntegrityError as error:
        raise DuplicatePeriodError(
            f"{tenant.display_name} already has an invoice for this period."
        ) from error
    InvoiceLine.objects.bulk_create(objects)
    invoice_event(invoice=invoice, type="created", actor=actor, amount=invoice.total)
    return invoice


@transaction.atomic
def invoice_update_draft(
    *,
    invoice: Invoice,
    lines: Sequence[LineData],
    actor: User,
    discount: Decimal,
    due_date: datetime.date | None,
    notes: str,
) -> Invoice:
    invoice = invoice_lock(invoice.pk)
    check_action(invoice, actor, "edit")
    if not lines:
        raise InvoiceActionError("An invoice needs at least one line.")
    invoice.discount = discount
    invoice.due_date = due_date
    invoice.notes = notes
    _edit_lines(invoice, lines)
    invoice_recompute(invoice=invoice)
    invoice_event(invoice=invoice, type="edited", actor=actor, amount=invoice.total)
    return invoice


# --- Issue, approve, send -------------------------------------------------------------------


def _finalize_locked(invoice: Invoice, actor: User | None) -> Invoice:
    from invoices import tasks

    provider = _provider_or_refuse()
    issue_date = today()
    invoice_recompute(invoice=invoice, supplier_state=provider.state)
    if invoice.total <= 0:
        raise InvoiceActionError("An invoice for nothing cannot be issued: void it instead.")
    financial_year = financial_year_of(issue_date)
    sequence = _next_sequence(financial_year)
    invoice.number = format_invoice_number(provider.invoice_number_prefix, financial_year, sequence)
    invoice.financial_year = financial_year
    invoice.sequence = sequence
    invoice.issue_date = issue_date
    if invoice.due_date is None or invoice.due_date < issue_date:
        invoice.due_date = issue_date + datetime.timedelta(days=invoice.tenant.payment_terms_days)
    invoice.supplier = supplier_snapshot(provider)
    invoice.customer = customer_snapshot(invoice.tenant)
    invoice.finalized_at = timezone.now()
    # The issued PDF is rendered after commit by a task, never inside this transaction: a slow
    # render must not hold the year's numbering lock or fail the finalization.
    transaction.on_commit(lambda: tasks.dispatch_issued_pdf(invoice.pk))
    return invoice_transition(
        invoice=invoice,
        to_status=S.PENDING,
        actor=actor,
        event="finalized",
        amount=invoice.total,
        note=f"Issued as {invoice.number}",
        update_fields=(
            "number",
            "financial_year",
            "sequence",
            "issue_date",
            "due_date",
            "supplier",
            "customer",
            "finalized_at",
        ),
    )


@transaction.atomic
def invoice_finalize(*, invoice: Invoice, actor: User | None) -> Invoice:
    """Issue a draft: number it, freeze the supplier's and customer's details, fix the amounts."""
    invoice = invoice_lock(invoice.pk)
    check_action(invoice, actor, "finalize")
    return _finalize_locked(invoice, actor)


def _approve_locked(invoice: Invoice, actor: User | None) -> None:
    invoice.approved_at = timezone.now()
    invoice.approved_by = actor
    invoice.save(update_fields=["approved_at", "approved_by", "updated_at"])
    invoice_event(invoice=invoice, type="approved", actor=actor)


@transaction.atomic
def invoice_approve(*, invoice: Invoice, actor: User) -> Invoice:
    invoice = invoice_lock(invoice.pk)
    check_action(invoice, actor, "approve")
    _approve_locked(invoice, actor)
    return invoice


RECIPIENTS = {"billing": "billing_email", "finance": "finance_email"}


@transaction.atomic
def invoice_send(*, invoice: Invoice, actor: User | None, recipient: str = "billing") -> Invoice:
    """Email the invoice to the customer; a draft is finalized and approved on the way.

    ``actor`` None: the system (auto-approve of monthly invoices)."""
    invoice = invoice_lock(invoice.pk)
    check_action(invoice, actor, "send")
    address = getattr(invoice.tenant, RECIPIENTS.get(recipient, "billing_email"), "")
    if not address:
        raise InvoiceActionError(f"{invoice.tenant.display_name} has no {recipient} email.")
    if invoice.status == S.DRAFT:
        invoice = _finalize_locked(invoice, actor)
    if invoice.approved_at is None:
        _approve_locked(invoice, actor)  # the sender approves what they send
    invoice.sent_to = address
    invoice_transition(
        invoice=invoice,
        to_status=S.SENT,
        actor=actor,
        event="sent",
        amount=invoice.total,
        note=f"To {address}",
        update_fields=("sent_to",),
    )
    email_queue(invoice=invoice, kind=OutboundEmail.Kind.INVOICE_SENT, step="", to=[address])
    return invoice


@transaction.atomic
def invoice_remind(*, invoice: Invoice, actor: User | None, step: str = "") -> OutboundEmail | None:
    """Queue a payment reminder; ``step`` names a scheduled one, which goes out only once."""
    invoice = invoice_lock(invoice.pk)
    check_action(invoice, actor, "remind")
    if not step:
        step = f"manual-{invoice.emails.filter(kind=OutboundEmail.Kind.REMINDER).count() + 1}"
    to = [a for a in (invoice.tenant.billing_email, invoice.tenant.finance_email) if a]
    email = email_queue(invoice=invoice, kind=OutboundEmail.Kind.REMINDER, step=step, to=to)
    if email is not None:
        invoice_event(
            invoice=invoice,
            type="reminder",
            actor=actor,
            amount=invoice.balance_due,
            note=f"To {', '.join(to)}",
        )
    return email


# --- Void and regenerate --------------------------------------------------------------------


def _void_locked(invoice: Invoice, actor: User, reason: str) -> Invoice:
    reason = reason.strip()
    if not reason:
        raise InvoiceActionError("Give a reason for voiding: it is kept on the invoice.")
    invoice.void_reason = reason[:300]
    invoice.balance_due = ZERO
    return invoice_transition(
        invoice=invoice,
        to_status=S.VOIDED,
        actor=actor,
        event="voided",
        amount=invoice.total,
        note=reason,
        update_fields=("void_reason", "balance_due"),
    )


@transaction.atomic
def invoice_void(*, invoice: Invoice, actor: User, reason: str) -> Invoice:
    invoice = invoice_lock(invoice.pk)
    check_action(invoice, actor, "void")
    return _void_locked(invoice, actor, reason)


@transaction.atomic
def invoice_regenerate(*, invoice: Invoice, actor: User, reason: str) -> Invoice:
    """Void an invoice and start a new draft for the same period.

    A subscription invoice is built again from its period's usage and charges (so corrected
    usage or prices are picked up); a one-time invoice gets the same lines.
    """
    invoice = invoice_lock(invoice.pk)
    check_action(invoice, actor, "regenerate")
    if invoice.kind == Invoice.Kind.SUBSCRIPTION and invoice.period_start and invoice.period_end:
        from invoices import generation

        _void_locked(invoice, actor, reason)
        generation.release_billed_usage(invoice)
        period = generation.Period(invoice.period_start, invoice.period_end)
        rebuilt = generation.generate_invoice(tenant=invoice.tenant, period=period)
        if rebuilt is None:
            # Lines made by hand, not from usage: carry them over, as for a one-time invoice.
            return _redraft_with_same_lines(invoice, actor)
        rebuilt.regenerated_from = invoice
        rebuilt.save(update_fields=["regenerated_from"])
        invoice_event(
            invoice=invoice,
            type="regenerated",
            actor=actor,
            note=f"Replaced by draft #{rebuilt.pk}",
        )
        invoice_event(
            invoice=rebuilt,
            type="regenerated",
            actor=actor,
            note=f"Replaces {invoice.display_number}",
        )
        return rebuilt
    _void_locked(invoice, actor, reason)
    return _redraft_with_same_lines(invoice, actor)


def _redraft_with_same_lines(invoice: Invoice, actor: User) -> Invoice:
    lines = [
        LineData(
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            kind=line.kind,
            unit=line.unit,
            sac_code=line.sac_code,
            tax_rate=line.tax_rate,
            resource_type=line.resource_type,
            resource_name=line.resource_name,
            period_start=line.period_start,
            period_end=line.period_end,
            priced_amount=line.amount if line.pricing_detail else None,
            pricing_detail=line.pricing_detail,
        )
        for line in invoice.lines.all()
    ]
    draft = invoice_create(
        tenant=invoice.tenant,
        lines=lines,
        actor=actor,
        kind=invoice.kind,
        discount=invoice.discount,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        notes=invoice.notes,
    )
    draft.regenerated_from = invoice
    draft.save(update_fields=["regenerated_from"])
    invoice_event(
        invoice=invoice, type="regenerated", actor=actor, note=f"Replaced by draft #{draft.pk}"
    )
    invoice_event(
        invoice=draft, type="regenerated", actor=actor, note=f"Replaces {invoice.display_number}"
    )
    return draft


# --- Money ----------------------------------------------------------------------------------


def invoice_apply_payment(
    *,
    invoice: Invoice,
    amount: Decimal,
    actor: User | None,
    note: str = "",
    received_on: datetime.date | None = None,
) -> Invoice:
    """Add a received amount to a locked invoice and move it to partially paid or paid.

    ``received_on``: when the money arrived, which is the invoice's paid date (finance reads it),
    even when the payment is recorded days later.
    """
    if amount <= 0:
        raise InvoiceActionError("A payment is more than ₹0.")
    if amount > invoice.balance_due:
        raise InvoiceActionError(
            f"₹{amount} is more than the balance due of ₹{invoice.balance_due}."
        )
    invoice.amount_paid += amount
    invoice.balance_due = invoice.total - invoice.amount_paid
    to_status: str
    if invoice.balance_due == 0:
        to_status = S.PAID
    elif invoice.status == S.SENT:
        to_status = S.PARTIALLY_PAID
    else:
        to_status = invoice.status  # partly paid again, or part of an overdue invoice
    invoice = _record_money(
        invoice=invoice,
        to_status=to_status,
        fields=("amount_paid", "balance_due"),
        event="payment",
        actor=actor,
        amount=amount,
        note=note,
    )
    if to_status == S.PAID and received_on is not None and received_on < today():
        invoice.paid_at = timezone.make_aware(
            datetime.datetime.combine(received_on, datetime.time(12))
        )
        invoice.save(update_fields=["paid_at"])
    return invoice


def invoice_apply_refund(
    *, invoice: Invoice, amount: Decimal, actor: User | None, note: str = ""
) -> Invoice:
    if amount <= 0 or amount > invoice.refundable:
        raise InvoiceActionError(
            f"A refund is more than ₹0 and at most ₹{invoice.refundable}, what was received."
        )
    invoice.amount_refunded += amount
    return _record_money(
        invoice=invoice,
        to_status=S.REFUNDED,
        fields=("amount_refunded",),
        event="refund",
        actor=actor,
        amount=amount,
        note=note,
    )


def _record_money(
    *,
    invoice: Invoice,
    to_status: str,
    fields: tuple[str, ...],
    event: str,
    actor: User | None,
    amount: Decimal,
    note: str,
) -> Invoice:
    """Save a locked invoice's changed amounts with a timeline row; move its status through the
    lifecycle door only when it changes (the transition table has no moves to the same status)."""
    if to_status != invoice.status:
        return invoice_transition(
            invoice=invoice,
            to_status=to_status,
            actor=actor,
            event=event,
            amount=amount,
            note=note,
            update_fields=fields,
        )
    invoice.save(update_fields=[*fields, "updated_at"])
    invoice_event(
        invoice=invoice,
        type=event,
        actor=actor,
        amount=amount,
        note=note,
        from_status=invoice.status,
        to_status=invoice.status,
    )
    return invoice


@transaction.atomic
def invoice_mark_overdue(*, invoice: Invoice, on: datetime.date | None = None) -> Invoice | None:
    """The system's move for an unpaid invoice past its due date (the daily sweep calls it)."""
    invoice = invoice_lock(invoice.pk)
    if invoice.status not in (S.SENT, S.PARTIALLY_PAID) or invoice.due_date is None:
        return None
    if invoice.due_date >= (on or today()) or invoice.balance_due <= 0:
        return None
    return invoice_transition(
        invoice=invoice,
        to_status=S.OVERDUE,
        actor=None,
        event="overdue",
        amount=invoice.balance_due,
        note=f"Due {invoice.due_date:%d %b %Y}",
    )


# --- Disputes -------------------------------------------------------------------------------


@transaction.atomic
def dispute_open(*, invoice: Invoice, actor: User, reason: str) -> Dispute:
    invoice = invoice_lock(invoice.pk)
    check_action(invoice, actor, "dispute")
    reason = reason.strip()
    if len(reason) < 10:
        raise InvoiceActionError(
            "Describe the problem in a sentence or two (10 characters at least)."
        )
    dispute = Dispute.objects.create(invoice=invoice, opened_by=actor, reason=reason[:2000])
    Invoice.objects.filter(pk=invoice.pk).update(disputed=True, updated_at=timezone.now())
    invoice_event(invoice=invoice, type="disputed", actor=actor, note=reason)
    return dispute


@transaction.atomic
def dispute_resolve(*, invoice: Invoice, actor: User, resolution: str) -> Dispute:
    invoice = invoice_lock(invoice.pk)
    check_action(invoice, actor, "resolve_dispute")
    resolution = resolution.strip()
    if not resolution:
        raise InvoiceActionError("Say how the dispute was resolved: the customer sees it.")
    dispute = Dispute.objects.select_for_update().get(invoice=invoice, resolved_at__isnull=True)
    dispute.resolved_at = timezone.now()
    dispute.resolved_by = actor
    dispute.resolution = resolution[:2000]
    dispute.save(update_fields=["resolved_at", "resolved_by", "resolution"])
    Invoice.objects.filter(pk=invoice.pk).update(disputed=False, updated_at=timezone.now())
    invoice_event(invoice=invoice, type="dispute_resolved", actor=actor, note=resolution)
    return dispute


# --- Email outbox ---------------------------------------------------------------------------

EMAIL_TEMPLATES: dict[str, str] = {
    OutboundEmail.Kind.INVOICE_SENT: "emails/invoice_sent",
    OutboundEmail.Kind.REMINDER: "emails/invoice_reminder",
    OutboundEmail.Kind.RECEIPT: "emails/payment_receipt",
    OutboundEmail.Kind.ADMIN_NOTICE: "emails/tenant_suspended",
    OutboundEmail.Kind.PAYMENT_REVIEW: "emails/payment_review",
}


def email_queue(
    *,
    invoice: Invoice,
    kind: str,
    step: str,
    to: list[str],
    context: dict[str, object] | None = None,
) -> OutboundEmail | None:
    """Render and store a message, and deliver it once the transaction commits.

    Returns None when this (invoice, kind, step) was queued before: the outbox sends it once.
    """
    from invoices import tasks

    message = build_templated_email(
        EMAIL_TEMPLATES[kind], to=to, context={"invoice": invoice, **(context or {})}
    )
    html = next((body for body, mime in message.alternatives if mime == "text/html"), "")
    try:
        with transaction.atomic():
            email = OutboundEmail.objects.create(
                invoice=invoice,
                kind=kind,
                step=step,
                to=list(to),
                subject=str(message.subject),
                body_text=str(message.body),
                body_html=str(html),
            )
    except IntegrityError:
        return None
    transaction.on_commit(lambda: tasks.dispatch_email(email.pk))
    return email


def email_claim(email_id: int) -> OutboundEmail | None:
    """Compare-and-set queued -> sending: of two workers running the task, one gets it.

    A row waiting for its retry time is not claimed early."""
    now = timezone.now()
    claimable = OutboundEmail.objects.filter(
        Q(retry_at__isnull=True) | Q(retry_at__lte=now),
        pk=email_id,
        status=OutboundEmail.Status.QUEUED,
    )
    claimed = claimable.update(
        status=OutboundEmail.Status.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1
    )
    return OutboundEmail.objects.get(pk=email_id) if claimed else None


EMAIL_MAX_ATTEMPTS = 8


def email_backoff(attempts: int) -> datetime.timedelta:
    """30 s, 1 min, 2 min ... capped at an hour: the wait after the n-th failed attempt."""
    return datetime.timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def email_mark(email: OutboundEmail, *, sent: bool, error: str = "") -> bool:
    """Record an attempt's outcome; True when the message will be tried again.

    The row's own attempt count decides when to give up, so however the attempts were started
    (a Celery retry, the outbox flush, an eager run in the demo), there are at most
    EMAIL_MAX_ATTEMPTS in all.
    """
    if sent:
        email.status = OutboundEmail.Status.SENT
        email.sent_at = timezone.now()
        email.last_error = ""
        email.retry_at = None
        retry = False
    else:
        retry = email.attempts < EMAIL_MAX_ATTEMPTS
        email.status = OutboundEmail.Status.QUEUED if retry else OutboundEmail.Status.FAILED
        email.retry_at = timezone.now() + email_backoff(email.attempts) if retry else None
        email.last_error = error[:500]
    email.save(update_fields=["status", "sent_at", "last_error", "retry_at"])
    return retry


# --- The daily sweep ------------------------------------------------------------------------


@dataclass
class SweepResult:
    marked_overdue: int = 0
    reminders: int = 0
    suspended: list[str] = field(default_factory=list)
    finalized: int = 0


def reminder_step(invoice: Invoice, day: datetime.date) -> str | None:
    """The reminder due for an unpaid invoice on ``day``, or None.

    Before the due date, "before-due" (from REMINDER_DAYS_BEFORE_DUE days ahead); on it, "due";
    after it, "overdue-1" in the first week, "overdue-2" in the second, and so on. A sweep that
    missed days sends only the step current today: the missed ones are not sent late, and none
    twice (the outbox is unique per step).
    """
    from django.conf import settings

    if invoice.due_date is None:
        return None
    days_late = (day - invoice.due_date).days
    if days_late > 0:
        return f"overdue-{(days_late - 1) // settings.REMINDER_OVERDUE_EVERY_DAYS + 1}"
    if days_late == 0:
        return "due"
    if -days_late <= settings.REMINDER_DAYS_BEFORE_DUE:
        return "before-due"
    return None


def overdue_sweep(*, on: datetime.date | None = None) -> SweepResult:
    """Mark invoices overdue, send the reminder each is due, suspend tenants past the grace period.

    Each invoice is handled in its own transaction: one failure does not hold back the rest.
    """
    from django.conf import settings

    from tenants.services import tenant_set_status

    day = on or today()
    result = SweepResult()
    grace = datetime.timedelta(days=settings.OVERDUE_GRACE_DAYS)
    open_statuses = [S.SENT, S.PARTIALLY_PAID, S.OVERDUE]
    unpaid = Invoice.objects.filter(status__in=open_statuses, balance_due__gt=0)

    for invoice in unpaid.filter(due_date__lt=day).exclude(status=S.OVERDUE):
        if invoice_mark_overdue(invoice=invoice, on=day) is not None:
            result.marked_overdue += 1
    horizon = day + datetime.timedelta(days=settings.REMINDER_DAYS_BEFORE_DUE)
    for invoice in unpaid.filter(due_date__lte=horizon).select_related("tenant"):
        step = reminder_step(invoice, day)
        if step and invoice_remind(invoice=invoice, actor=None, step=step):
            result.reminders += 1

    past_grace = unpaid.filter(status=S.OVERDUE, due_date__lt=day - grace).select_related("tenant")
    for invoice in past_grace.order_by("due_date"):
        tenant = invoice.tenant
        if tenant.status != Tenant.Status.ACTIVE or tenant.display_name in result.suspended:
            continue
        with transaction.atomic():
            tenant_set_status(
                tenant=tenant,
                status=Tenant.Status.SUSPENDED,
                reason=f"{invoice.number} unpaid {settings.OVERDUE_GRACE_DAYS}+ days past due",
                actor=None,
                automatic=True,
            )
            _notify_admins_of_suspension(invoice)
        result.suspended.append(tenant.display_name)
    result.finalized = finalize_due_drafts(on=day)
    return result


def _notify_admins_of_suspension(invoice: Invoice) -> None:
    from tenants.roles import BILLING_ADMIN

    admins = list(
        User.objects.filter(groups__name=BILLING_ADMIN, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if admins:
        email_queue(
            invoice=invoice,
            kind=OutboundEmail.Kind.ADMIN_NOTICE,
            step="tenant-suspended",
            to=admins,
        )


def lift_automatic_suspension(*, tenant: Tenant) -> bool:
    """After a payment: a tenant the sweep suspended is reactivated once nothing is overdue."""
    from tenants.services import tenant_set_status

    if not (tenant.status == Tenant.Status.SUSPENDED and tenant.auto_suspended):
        return False
    if Invoice.objects.filter(tenant=tenant, status=S.OVERDUE, balance_due__gt=0).exists():
        return False
    tenant_set_status(
        tenant=tenant,
        status=Tenant.Status.ACTIVE,
        reason="Overdue invoices paid",
        actor=None,
    )
    return True


def finalize_due_drafts(*, on: datetime.date | None = None) -> int:
    """Monthly drafts older than the grace period are finalized (and approved and sent when the
    provider turned auto-approve on); each in its own transaction."""
    from django.conf import settings

    day = on or today()
    provider = ProviderProfile.objects.filter(pk=1).first()
    if provider is None:
        return 0
    # Counted in calendar days: a draft of 1 Oct with 3 days' grace is finalized on 4 Oct.
    cutoff = timezone.make_aware(
        datetime.datetime.combine(
            day - datetime.timedelta(days=settings.DRAFT_GRACE_DAYS - 1), datetime.time()
        )
    )
    drafts = Invoice.objects.filter(
        status=S.DRAFT, kind=Invoice.Kind.SUBSCRIPTION, created_at__lt=cutoff
    )
    done = 0
    for invoice in drafts.order_by("created_at"):
        try:
            if provider.auto_approve:
                invoice_send(invoice=invoice, actor=None)
            else:
                invoice_finalize(invoice=invoice, actor=None)
        except InvoiceActionError as error:
            log.warning("draft %s not finalized: %s", invoice.pk, error)
            continue
        done += 1
    return done
