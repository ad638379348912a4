"""The invoice list's exports: one row per invoice, or one row per line for accountants.

Both read ``invoice_listing``, the function the list page reads, so a file holds exactly the
invoices on screen (filters, status tabs, order and the user's tenant scope).
"""

import datetime
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import (
    Case,
    CharField,
    DecimalField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, NullIf
from django.http import QueryDict
from django.utils import timezone

from billing_portal.lib.exports import Column, Table, pdf_report, write_export
from billing_portal.lib.exports import Kind as K
from billing_portal.lib.gst import STATES
from exports.services import query_of
from invoices.models import Invoice, InvoiceLine
from invoices.selectors import Listing, invoice_listing, invoices_for

S = Invoice.Status
INVOICES = "invoices"
LINES = "lines"
TABLES = (INVOICES, LINES)
NOT_ISSUED = frozenset({S.DRAFT, S.VOIDED})
STATUS_LABELS = dict(S.choices)
KIND_LABELS = dict(Invoice.Kind.choices)
LINE_KIND_LABELS = dict(InvoiceLine.Kind.choices)
RATE = DecimalField(max_digits=5, decimal_places=2)
AMOUNT = DecimalField(max_digits=14, decimal_places=2)
ZERO_RATE = Value(Decimal("0.00"), output_field=RATE)
ZERO_AMOUNT = Value(Decimal("0.00"), output_field=AMOUNT)


PLACES = {code: f"{code}-{state.name}" for code, state in STATES.items()}


def _place(code: str) -> str:
    return PLACES.get(code, code)


def _issued(status: str) -> bool:
    return status not in NOT_ISSUED


# The GSTIN as issued (copied onto the invoice at finalization), the tenant's own for a draft.
def _gstin_as_issued(prefix: str = "") -> Coalesce:
    return Coalesce(
        NullIf(KeyTextTransform("gstin", f"{prefix}customer"), Value("")),
        F(f"{prefix}tenant__gstin"),
        output_field=CharField(),
    )


INVOICE_TABLE = Table(
    title="Invoices",
    columns=(
        Column("Number", "number", width=18),
        Column("Customer", "tenant__display_name", width=28),
        Column("Customer GSTIN", "customer_gstin", width=18),
        Column("Place of supply", "place_of_supply", show=_place, width=18, pdf=False),
        Column("Kind", "kind", show=KIND_LABELS.get, width=12, pdf=False),
        Column("Status", "status", show=STATUS_LABELS.get, width=12),
        Column("Issue date", "issue_date", K.DATE, width=12),
        Column("Due date", "due_date", K.DATE, width=12),
        Column("Period start", "period_start", K.DATE, width=12, pdf=False),
        Column("Period end", "period_end", K.DATE, width=12, pdf=False),
        Column("Subtotal", "subtotal", K.MONEY, total=True, pdf=False),
        Column("Discount", "discount", K.MONEY, total=True, pdf=False),
        Column("Taxable value", "taxable_value", K.MONEY, total=True),
        Column("CGST", "cgst", K.MONEY, total=True),
        Column("SGST/UTGST", "sgst", K.MONEY, total=True),
        Column("IGST", "igst", K.MONEY, total=True),
        Column("Round-off", "round_off", K.MONEY, total=True, pdf=False),
        Column("Total", "total", K.MONEY, total=True),
        Column("Paid", "amount_paid", K.MONEY, total=True),
        Column("Refunded", "amount_refunded", K.MONEY, total=True, pdf=False),
        Column("Balance due", "balance_due", K.MONEY, total=True),
    ),
    annotations={"customer_gstin": _gstin_as_issued()},
    total_when=("status", _issued),
    total_label="Total of issued invoices (drafts and voided left out, as in the summary bar)",
)


def _half(when: Any) -> Case:
    return Case(
        When(when, then=ExpressionWrapper(F("tax_rate") / 2, output_field=RATE)),
        default=ZERO_RATE,
        output_field=RATE,
    )


def _if(when: Any, then: Any, default: Any, output: DecimalField) -> Case:
    return Case(When(when, then=then), default=default, output_field=output)


_intra = {"invoice__intra_state": True}
_sgst = {"invoice__intra_state": True, "invoice__state_tax_name": "SGST"}
_utgst = {"invoice__intra_state": True, "invoice__state_tax_name": "UTGST"}

LINE_TABLE = Table(
    title="Invoice lines",
    columns=(
        Column("Invoice number", "invoice__number", width=18),
        Column("Invoice date", "invoice__issue_date", K.DATE, width=12),
        Column("Customer", "invoice__tenant__display_name", width=28),
        Column("Customer GSTIN", "customer_gstin", width=18),
        Column("Place of supply", "invoice__place_of_supply", show=_place, width=18, pdf=False),
        Column("Invoice status", "invoice__status", show=STATUS_LABELS.get, width=12, pdf=False),
        Column("Line", "position", K.INTEGER, width=6, pdf=False),
        Column("Kind", "kind", show=LINE_KIND_LABELS.get, width=11, pdf=False),
        Column("Description", "description", width=40),
        Column("SAC/HSN", "sac_code", width=9),
        Column("Quantity", "quantity", K.NUMBER, width=12),
        Column("Unit", "unit", width=11, pdf=False),
        Column("Rate", "unit_price", K.NUMBER, width=12),
        Column("Amount", "amount", K.MONEY, total=True, pdf=False),
        Column("Discount", "discount", K.MONEY, total=True, pdf=False),
        Column("Taxable value", "taxable_value", K.MONEY, total=True),
        Column("CGST rate (%)", "cgst_rate", K.NUMBER, width=8, pdf=False),
        Column("CGST", "cgst", K.MONEY, total=True),
        Column("SGST rate (%)", "sgst_rate", K.NUMBER, width=8, pdf=False),
        Column("SGST", "sgst_amount", K.MONEY, total=True),
        Column("UTGST rate (%)", "utgst_rate", K.NUMBER, width=8, pdf=False),
        Column("UTGST", "utgst_amount", K.MONEY, total=True),
        Column("IGST rate (%)", "igst_rate", K.NUMBER, width=8, pdf=False),
        Column("IGST", "igst", K.MONEY, total=True),
        Column("Line total", "line_total", K.MONEY, total=True),
    ),
    annotations={
        "customer_gstin": _gstin_as_issued("invoice__"),
        "cgst_rate": _half(Q(**_intra)),
        "sgst_rate": _half(Q(**_sgst)),
        "utgst_rate": _half(Q(**_utgst)),
        "igst_rate": _if(~Q(**_intra), F("tax_rate"), ZERO_RATE, RATE),
        "sgst_amount": _if(
            Q(invoice__state_tax_name="SGST"),
            F("sgst"),
            ZERO_AMOUNT,
            AMOUNT,
        ),
        "utgst_amount": _if(
            Q(invoice__state_tax_name="UTGST"),
            F("sgst"),
            ZERO_AMOUNT,
            AMOUNT,
        ),
        "line_total": ExpressionWrapper(
            F("taxable_value") + F("cgst") + F("sgst") + F("igst"), output_field=AMOUNT
        ),
    },
    total_when=("invoice__status", _issued),
    total_label="Total of lines of issued invoices (drafts and voided left out)",
)


@dataclass(frozen=True)
class InvoiceExport:
    """What to write: the table and the query of its rows, for one user and one set of filters."""

    table: Table
    queryset: QuerySet[Any]
    listing: Listing

    def count(self) -> int:
        return self.queryset.count()

    def rows(self, *, as_text: bool = False) -> Iterator[Any]:
        return self.table.rows(self.queryset, as_text=as_text)


def invoice_export(
    user: User,
    params: QueryDict,
    *,
    tenant_id: int | None,
    today: datetime.date,
    which: str = INVOICES,
) -> InvoiceExport:
    listing = invoice_listing(user, params, tenant_id=tenant_id, today=today)
    if which == LINES:
        invoices = listing.rows
        order = [
            *(_prefixed(o) for o in invoices.query.order_by),
            "invoice_id",
            "position",
            "id",
        ]
        lines = InvoiceLine.objects.filter(invoice__in=invoices.order_by().values("pk"))
        return InvoiceExport(LINE_TABLE, lines.order_by(*order), listing)
    return InvoiceExport(INVOICE_TABLE, listing.rows, listing)


def _prefixed(order: Any) -> Any:
    """The list's ORDER BY, said from the line's side (invoice__...)."""
    if isinstance(order, str):
        descending = order.startswith("-")
        name = order.lstrip("-")
        return f"{'-' if descending else ''}invoice__{name}"
    # An expression such as F("issue_date").desc(nulls_first=True)
    copy = order.copy()
    copy.expression = F(f"invoice__{copy.expression.name}")
    return copy


# --- Files: inline and in a job ---------------------------------------------------------------

FORMATS = ("csv", "xlsx", "pdf")
IGNORED_PARAMS = {"format", "table", "page", "size"}


def filename(which: str, fmt: str, today: datetime.date) -> str:
    stem = "invoice-lines" if which == LINES else "invoices"
    return f"{stem}-{today:%Y%m%d}.{fmt}"


def notes(export: InvoiceExport, params: QueryDict, user: User) -> list[tuple[str, str]]:
    """What an auditor needs to know about the file: who, when, which filters."""
    filters = [
        f"{key}={','.join(values)}"
        for key, values in params.lists()
        if key not in IGNORED_PARAMS and any(values)
    ]
    return [
        ("Exported by", user.get_full_name() or user.get_username()),
        ("Exported at", f"{timezone.localtime():%d %b %Y %H:%M} IST"),
        ("Filters", "; ".join(filters) or "none (every invoice you may see)"),
        ("Totals", export.table.total_label),
    ]


def write_file(
    export: InvoiceExport,
    fmt: str,
    path: Path,
    *,
    notes: list[tuple[str, str]],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the export to ``path``; return its rows."""
    if fmt != "pdf":
        return write_export(export, fmt, path, notes=notes, progress=progress)
    rows = list(export.rows())
    path.write_bytes(
        pdf_report(
            export.table,
            rows,
            notes=notes,
            max_rows=settings.EXPORT_PDF_MAX_ROWS,
            timeout=settings.EXPORT_TIME_LIMIT,
        )
    )
    return len(rows)


def write_job(job: Any, path: Path, progress: Callable[[int], None]) -> tuple[str, int]:
    """An ExportJob of the list or its lines, rebuilt from its stored URL parameters."""
    params = query_of(job.params)
    which = LINES if job.kind == "lines" else INVOICES
    export = invoice_export(
        job.requester, params, tenant_id=job.tenant_id, today=timezone.localdate(), which=which
    )
    rows = write_file(
        export, job.format, path, notes=notes(export, params, job.requester), progress=progress
    )
    return filename(which, job.format, timezone.localdate()), rows


# --- A ZIP of tax invoice PDFs ------------------------------------------------------------------


def pdf_invoices(user: User, ids: list[int]) -> QuerySet[Invoice]:
    """The chosen invoices the user may see that have a tax invoice (drafts have none yet)."""
    return (
        invoices_for(user)
        .filter(pk__in=ids, number__isnull=False)
        .select_related("tenant")
        .order_by("financial_year", "sequence")
    )


def write_pdfs_zip(
    invoices: Iterable[Invoice],
    target: IO[bytes] | Path,
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """One PDF per invoice, as each is downloaded from its page; return how many."""
    from invoices.pdf import invoice_pdf, invoice_pdf_filename

    written = 0
    names: set[str] = set()
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for invoice in invoices:
            name = invoice_pdf_filename(invoice)
            if name in names:  # never two entries of one name: the second would hide the first
                name = f"{invoice.pk}-{name}"
            names.add(name)
            archive.writestr(name, invoice_pdf(invoice=invoice))
            written += 1
            if progress is not None:
                progress(written)
    return written


def write_pdfs_job(job: Any, path: Path, progress: Callable[[int], None]) -> tuple[str, int]:
    invoices = pdf_invoices(job.requester, [int(i) for i in job.params.get("ids", [])])
    count = write_pdfs_zip(invoices.iterator(chunk_size=100), path, progress=progress)
    return f"invoices-{timezone.localdate():%Y%m%d}.zip", count
