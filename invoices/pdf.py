"""The GST tax invoice as a PDF (CGST Rule 46), rendered by WeasyPrint.

Two copies of an issued invoice exist, on purpose:

* The issued copy: rendered from the invoice as it was issued (no payment mark, nothing paid, the
  whole total due) once, after finalization commits, and stored byte for byte in ``IssuedPdf``. It
  is what the "invoice sent" email attaches, and what ``?copy=issued`` downloads. Later payments,
  refunds or a void never change it; neither does a later change to this template.
* The current copy (``invoice_pdf``): what a download serves. While nothing has happened to the
  invoice since it was issued (not paid, refunded or voided) it *is* the issued copy; after that it
  is rendered on request from the same frozen particulars with the current mark (PAID, PARTIALLY
  PAID, REFUNDED, VOID) and the amounts paid and due today.

A draft renders as a preview headed "DRAFT - not a tax invoice", for staff only (customers never
see drafts). Every amount and quantity goes through billing_portal.lib (money, words) so the PDF
shows what the pages and exports show.
"""

import datetime
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet, Sum
from django.template.loader import render_to_string

from billing_portal.lib.money import format_inr, group_indian
from billing_portal.lib.pdfrender import PdfRenderError, render_pdf
from billing_portal.lib.words import amount_in_words
from invoices.models import Invoice, InvoiceLine, IssuedPdf

if TYPE_CHECKING:
    from usage.models import UsageRecord

__all__ = [
    "PdfRenderError",
    "invoice_pdf",
    "invoice_pdf_filename",
    "issued_pdf",
    "issued_pdf_attachment",
    "render_invoice_html",
]

S = Invoice.Status
ZERO = Decimal("0.00")
TEMPLATE = "invoices/pdf/tax_invoice.html"
# Given to the renderer, which parses it once, rather than linked from the template (a <link> is
# parsed again for every document: a tenth of a one-page invoice's time).
STYLESHEET = "css/pdf.css"
SERVICE_ROWS_LIMIT = 1000  # resources listed on the service-level page; the usage export has all


# --- What a copy shows about payment --------------------------------------------------------


@dataclass(frozen=True)
class PaymentState:
    mark: str  # "", "PAID", "PARTIALLY PAID", "REFUNDED", "VOID" or "DRAFT"
    amount_paid: Decimal  # rupees
    amount_refunded: Decimal  # rupees
    balance_due: Decimal  # rupees
    as_issued: bool


def issued_state(invoice: Invoice) -> PaymentState:
    """The invoice on the day it was issued: nothing paid, the total due, no mark."""
    return PaymentState("", ZERO, ZERO, invoice.total, as_issued=True)


def current_state(invoice: Invoice) -> PaymentState:
    marks: dict[str, str] = {
        S.DRAFT: "DRAFT",
        S.PAID: "PAID",
        S.PARTIALLY_PAID: "PARTIALLY PAID",
        S.REFUNDED: "REFUNDED",
        S.VOIDED: "VOID",
    }
    mark = marks.get(invoice.status, "")
    if not mark and invoice.amount_paid > 0:  # overdue after a part payment
        mark = "PARTIALLY PAID"
    return PaymentState(
        mark, invoice.amount_paid, invoice.amount_refunded, invoice.balance_due, as_issued=False
    )


def _unchanged_since_issue(invoice: Invoice) -> bool:
    state = current_state(invoice)
    return not state.mark and state.amount_paid == 0 and state.amount_refunded == 0


# --- Figures, formatted once ----------------------------------------------------------------


def format_number(value: Decimal, *, places: int = 3) -> str:
    """A quantity or a rate in Indian grouping, trailing zeros dropped: 12,34,567.5 (never 1E+2)."""
    rounded = value.quantize(Decimal(1).scaleb(-places))
    sign = "-" if rounded < 0 else ""
    whole, _, fraction = f"{abs(rounded):f}".partition(".")
    fraction = fraction.rstrip("0")
    return f"{sign}{group_indian(whole)}{'.' + fraction if fraction else ''}"


def format_rate(value: Decimal) -> str:
    """A unit price: ₹1.20, ₹0.000125 (to six places where a price has them)."""
    text = format_number(value, places=6)
    whole, _, fraction = text.partition(".")
    return f"₹{whole}.{fraction.ljust(2, '0')}"


def format_percent(value: Decimal) -> str:
    return f"{format_number(value, places=2)}%"


@dataclass(frozen=True)
class LineRow:
    description: str
    detail: str
    period: str
    sac: str
    quantity: str
    unit: str
    rate: str
    amount: str
    discount: str
    taxable_value: str
    tax_rate: str
    half_rate: str
    cgst: str
    sgst: str
    igst: str
    total: str


@dataclass(frozen=True)
class TaxRow:
    """The SAC/rate summary: one row per (SAC, rate), as GSTR-1's HSN summary wants it."""

    sac: str
    tax_rate: str
    half_rate: str
    taxable_value: str
    cgst: str
    sgst: str
    igst: str
    tax: str


def _period(start: datetime.date | None, end: datetime.date | None) -> str:
    if start is None or end is None:
        return ""
    return f"{start:%d %b %Y} to {end:%d %b %Y}"


def _line_rows(invoice: Invoice, lines: list[InvoiceLine]) -> list[LineRow]:
    rows = []
    for line in lines:
        own_period = (line.period_start, line.period_end) != (
            invoice.period_start,
            invoice.period_end,
        )
        rows.append(
            LineRow(
                description=line.description,
                detail=line.pricing_detail,
                period=_period(line.period_start, line.period_end) if own_period else "",
                sac=line.sac_code,
                quantity=format_number(line.quantity),
                unit=line.unit,
                rate=format_rate(line.unit_price),
                amount=format_inr(line.amount),
                discount=format_inr(line.discount) if line.discount else "",
                taxable_value=format_inr(line.taxable_value),
                tax_rate=format_percent(line.tax_rate),
                half_rate=format_percent(line.tax_rate / 2),
                cgst=format_inr(line.cgst),
                sgst=format_inr(line.sgst),
                igst=format_inr(line.igst),
                total=format_inr(line.taxable_value + line.tax),
            )
        )
    return rows


def _tax_rows(lines: Iterable[InvoiceLine]) -> list[TaxRow]:
    groups: dict[tuple[str, Decimal], list[Decimal]] = {}
    for line in lines:
        sums = groups.setdefault((line.sac_code, line.tax_rate), [ZERO, ZERO, ZERO, ZERO])
        for i, value in enumerate((line.taxable_value, line.cgst, line.sgst, line.igst)):
            sums[i] += value
    return [
        TaxRow(
            sac=sac,
            tax_rate=format_percent(rate),
            half_rate=format_percent(rate / 2),
            taxable_value=format_inr(taxable),
            cgst=format_inr(cgst),
            sgst=format_inr(sgst),
            igst=format_inr(igst),
            tax=format_inr(cgst + sgst + igst),
        )
        for (sac, rate), (taxable, cgst, sgst, igst) in sorted(groups.items())
    ]


# --- Usage behind the lines (the service-level page) ----------------------------------------


def line_usage_records(line: InvoiceLine) -> "QuerySet[UsageRecord]":
    """The usage records an invoice line billed: the one place this module asks how records link
    to lines (the monthly run owns that link)."""
    from invoices.generation import line_records

    return line_records(line)


def usage_by_resource(line: InvoiceLine, *, limit: int) -> list[dict[str, Any]]:
    """A usage line's records summed per resource and region, largest first: at most ``limit``
    + 1 rows (one more says the list was cut)."""
    rows = (
        line_usage_records(line)
        .values("resource_id", "resource_name", "region")
        .annotate(quantity=Sum("quantity"), records=Count("id"))
        .order_by("-quantity", "resource_id", "region")
    )
    return [dict(row) for row in rows[: limit + 1]]


def _service_groups(lines: list[InvoiceLine]) -> tuple[list[dict[str, Any]], bool]:
    usage_lines = [line for line in lines if line.kind == InvoiceLine.Kind.USAGE]
    groups: list[dict[str, Any]] = []
    left, cut = SERVICE_ROWS_LIMIT, False
    for line in usage_lines:
        resources = usage_by_resource(line, limit=left) if left else []
        if len(resources) > left or not left:
            resources, cut = resources[:left], True
        left -= len(resources)
        used = sum((r["quantity"] for r in resources), Decimal(0))
        groups.append(
            {
                "description": line.description,
                "unit": line.unit,
                "quantity": format_number(line.quantity),
                "amount": format_inr(line.amount),
                "detail": line.pricing_detail,
                "resources": [
                    {
                        "resource": r["resource_name"] or r["resource_id"],
                        "resource_id": r["resource_id"] if r["resource_name"] else "",
                        "region": r["region"],
                        "quantity": format_number(r["quantity"]),
                        "share": format_percent(r["quantity"] * 100 / used) if used else "",
                        "records": group_indian(str(r["records"])),
                    }
                    for r in resources
                ],
            }
        )
    if not any(group["resources"] for group in groups):
        return [], False  # no records linked (lines typed by hand): no annexure to show
    return groups, cut


# --- The document ---------------------------------------------------------------------------


def _parties(invoice: Invoice) -> tuple[dict[str, Any], dict[str, Any]]:
    """The supplier's and recipient's details: frozen at finalization, today's for a draft."""
    if invoice.status != S.DRAFT and invoice.supplier and invoice.customer:
        return invoice.supplier, invoice.customer
    from invoices.services import customer_snapshot, supplier_snapshot
    from tenants.models import ProviderProfile

    provider = ProviderProfile.objects.filter(pk=1).first()
    supplier = invoice.supplier or (supplier_snapshot(provider) if provider else {})
    return supplier, customer_snapshot(invoice.tenant)


def invoice_context(invoice: Invoice, state: PaymentState) -> dict[str, Any]:
    lines = list(invoice.lines.all())
    supplier, customer = _parties(invoice)
    services, services_cut = _service_groups(lines)
    single_rate = len({line.tax_rate for line in lines}) == 1
    rate = lines[0].tax_rate if lines and single_rate else None
    return {
        "invoice": invoice,
        "state": state,
        "draft": invoice.status == S.DRAFT,
        "supplier": supplier,
        "customer": customer,
        "place_of_supply": invoice.place_of_supply or customer.get("state", ""),
        "place_of_supply_name": invoice.place_of_supply_name or customer.get("state_name", ""),
        "state_tax_name": invoice.state_tax_name,
        "intra_state": invoice.intra_state,
        "period": _period(invoice.period_start, invoice.period_end),
        "lines": _line_rows(invoice, lines),
        "any_discount": any(line.discount for line in lines),
        "tax_rows": _tax_rows(lines),
        "rate": format_percent(rate) if rate is not None else "",
        "half_rate": format_percent(rate / 2) if rate is not None else "",
        "amounts": {
            name: format_inr(getattr(invoice, name))
            for name in (
                "subtotal",
                "discount",
                "taxable_value",
                "cgst",
                "sgst",
                "igst",
                "tax_total",
                "round_off",
                "total",
            )
        },
        "paid": format_inr(state.amount_paid),
        "refunded": format_inr(state.amount_refunded) if state.amount_refunded else "",
        "balance": format_inr(state.balance_due),
        "total_in_words": amount_in_words(invoice.total),
        "services": services,
        "services_cut": services_cut,
        "services_limit": SERVICE_ROWS_LIMIT,
    }


def render_invoice_html(invoice: Invoice, state: PaymentState) -> str:
    """The document's HTML (styled by ``STYLESHEET``); Django autoescapes every value, so user
    text stays text."""
    return render_to_string(TEMPLATE, invoice_context(invoice, state))


def _render(invoice: Invoice, state: PaymentState) -> bytes:
    return render_pdf(render_invoice_html(invoice, state), stylesheets=(STYLESHEET,))


def issued_pdf(*, invoice: Invoice) -> bytes:
    """The copy as issued, byte for byte; rendered and stored the first time it is asked for."""
    if invoice.status == S.DRAFT or not invoice.number:
        raise ValueError("a draft has no issued copy")
    stored = IssuedPdf.objects.filter(invoice_id=invoice.pk).values_list("content", flat=True)
    content = stored.first()
    if content is not None:
        return bytes(content)
    return issued_pdf_store(invoice=invoice)


def issued_pdf_store(*, invoice: Invoice) -> bytes:
    """Render the issued copy and keep it; when another process stored one first, theirs wins
    (both rendered the same frozen particulars), so every reader gets the same bytes."""
    pdf = _render(invoice, issued_state(invoice))
    try:
        with transaction.atomic():
            IssuedPdf.objects.create(
                invoice_id=invoice.pk, content=pdf, sha256=hashlib.sha256(pdf).hexdigest()
            )
    except IntegrityError:
        return bytes(IssuedPdf.objects.values_list("content", flat=True).get(invoice_id=invoice.pk))
    return pdf


def invoice_pdf(*, invoice: Invoice) -> bytes:
    """The PDF to download now: the issued copy while nothing has happened to the invoice since,
    else a copy with today's mark and amounts; a draft's preview."""
    if invoice.status != S.DRAFT and _unchanged_since_issue(invoice):
        return issued_pdf(invoice=invoice)
    return _render(invoice, current_state(invoice))


def issued_pdf_attachment(invoice: Invoice) -> tuple[str, bytes, str]:
    """(filename, content, mimetype) of the issued copy, for EmailMessage.attach."""
    return invoice_pdf_filename(invoice), issued_pdf(invoice=invoice), "application/pdf"


def invoice_pdf_filename(invoice: Invoice) -> str:
    """CRS-2627-00042.pdf (the number, slashes made safe); draft-17.pdf for a draft."""
    if invoice.number:
        return f"{invoice.number.replace('/', '-')}.pdf"
    return f"draft-{invoice.pk}.pdf"
