"""The payments page (/payments/) and its CSV export: payments, or refunds with ?kind=refunds.

Staff with ``payments.view_payment`` (``payments.view_refund`` for refunds) see every tenant and
may pick one. A customer sees the organisation active in their session, read-only, without the
columns that are the billing team's business: who recorded a payment, why it waits for review,
internal notes and gateway order ids (the gateway payment id is on their receipt, so it stays).

The export (CSV or XLSX, written by the shared exporter) answers exactly the page's rows,
through the same FilterSet. Staff also need
``invoices.export_invoice``; a customer exports their own organisation's rows, with the columns
their page shows, as the usage export does.
"""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Aggregate, Count, F, Q, QuerySet, Sum
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from billing_portal.lib.exports import XLSX_CONTENT_TYPE, Column, Table, csv_lines, write_xlsx
from billing_portal.lib.exports import Kind as K
from billing_portal.lib.http import AuthedRequest, wants_fragment
from invoices.views import PAGE_SIZES, CountedPaginator
from payments.filters import KINDS, PAYMENTS, REFUNDS, PaymentFilter
from payments.models import Payment, Refund
from tenants.access import require_staff_perm, scope_to_user
from tenants.models import Tenant
from tenants.roles import is_staff_member

VIEW_PERMS = {PAYMENTS: "payments.view_payment", REFUNDS: "payments.view_refund"}
EXPORT_PERM = "invoices.export_invoice"
ZERO = Decimal("0.00")
GATEWAY_METHODS = {"upi": "UPI", "card": "Card", "netbanking": "Netbanking", "wallet": "Wallet"}


# --- who sees what ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    kind: str
    staff: bool
    rows: QuerySet[Any]  # every row the user may see, before any filter


def _listing(request: AuthedRequest, kind: str) -> Listing:
    """The rows of ``kind`` the user may see, or 403 (staff without the permission) / 404."""
    user = request.user
    staff = is_staff_member(user)
    if kind == REFUNDS:
        rows: QuerySet[Any] = scope_to_user(
            Refund.objects.all(), user, tenant_field="invoice__tenant"
        )
        tenant_column = "invoice__tenant_id"
    else:
        rows = scope_to_user(Payment.objects.all(), user)
        tenant_column = "tenant_id"
    if staff:
        require_staff_perm(user, VIEW_PERMS[kind])
    else:
        membership = request.active_membership
        if not membership:  # a lazy object: test its truth, never "is None"
            raise Http404("You are not a member of any organisation.")
        rows = rows.filter(**{tenant_column: membership.tenant_id})
    return Listing(kind=kind, staff=staff, rows=rows)


def _filterset(request: AuthedRequest, listing: Listing) -> PaymentFilter:
    return PaymentFilter(
        request.GET or None,
        queryset=listing.rows,
        kind=listing.kind,
        today=timezone.localdate(),
        tenants=Tenant.objects.order_by("display_name").only("id", "display_name")
        if listing.staff
        else None,
    )


# --- the summary bar --------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    count: int  # rows matching every filter, statuses included
    all_count: int  # rows matching every filter but the status tabs
    status_counts: dict[str, int]  # per status, beside the chosen tabs
    amounts: list[tuple[str, Decimal, str]]  # (label, rupees, css class) for the cards
    review: int  # payments waiting for a person (0 for refunds)


def _summary(queryset: QuerySet[Any], kind: str, statuses: list[str]) -> Summary:
    """The summary cards and the status tabs' counts, in one aggregate query."""
    chosen = Q(status__in=statuses) if statuses else Q()
    if kind == REFUNDS:
        R = Refund.Status
        sums: dict[str, Aggregate] = {
            "processed": Sum("amount", filter=chosen & Q(status=R.PROCESSED), default=ZERO),
            "pending": Sum("amount", filter=chosen & Q(status=R.PENDING), default=ZERO),
            "failed": Sum("amount", filter=chosen & Q(status=R.FAILED), default=ZERO),
        }
        values: list[str] = R.values
    else:
        captured = chosen & Q(status=Payment.Status.CAPTURED)
        sums = {
            "captured": Sum("amount", filter=captured, default=ZERO),
            # Refunds come off captured payments only; a pending refund is not yet money out.
            "refunded": Sum("amount_refunded", filter=captured, default=ZERO),
            "review": Count("id", filter=chosen & ~Q(review_reason="")),
        }
        values = Payment.Status.values
    row = queryset.aggregate(
        all_count=Count("id"),
        count=Count("id", filter=chosen),
        **sums,
        **{f"n_{s}": Count("id", filter=Q(status=s)) for s in values},
    )
    if kind == REFUNDS:
        amounts = [
            ("Refunded", row["processed"], "bad"),
            ("Pending at the gateway", row["pending"], "warn"),
            ("Failed", row["failed"], ""),
        ]
    else:
        amounts = [
            ("Captured", row["captured"], "ok"),
            ("Refunded", row["refunded"], "bad"),
            ("Net received", row["captured"] - row["refunded"], ""),
        ]
    return Summary(
        count=row["count"],
        all_count=row["all_count"],
        status_counts={s: row[f"n_{s}"] for s in values},
        amounts=amounts,
        review=row.get("review", 0),
    )


# --- the page ---------------------------------------------------------------------------------


def _kind(request: AuthedRequest) -> str:
    kind = request.GET.get("kind", PAYMENTS)
    return kind if kind in KINDS else PAYMENTS


def _page_size(request: AuthedRequest) -> int:
    try:
        size = int(request.GET.get("size", PAGE_SIZES[0]))
    except ValueError:
        return PAGE_SIZES[0]
    return size if size in PAGE_SIZES else PAGE_SIZES[0]


def _ordered(rows: QuerySet[Any], kind: str) -> QuerySet[Any]:
    """Newest first, with every row's relations in the same query."""
    if kind == REFUNDS:
        rows = rows.select_related("invoice__tenant", "payment", "recorded_by")
    else:
        rows = rows.select_related("invoice", "tenant", "recorded_by")
    return rows.order_by("-created_at", "-id")


@login_required
@require_safe
def payment_list(request: AuthedRequest) -> HttpResponse:
    listing = _listing(request, _kind(request))
    filterset = _filterset(request, listing)
    statuses = filterset.statuses
    summary = _summary(filterset.qs_any_status, listing.kind, statuses)
    size = _page_size(request)
    page = CountedPaginator(
        _ordered(filterset.qs, listing.kind), size, count=summary.count
    ).get_page(request.GET.get("page"))
    cleaned = filterset.form.cleaned_data if filterset.is_bound else {}
    staff = listing.staff
    context = {
        "kind": listing.kind,
        "filter": filterset,
        "page": page,
        "summary": summary,
        "statuses": statuses,
        "status_choices": filterset.paths.statuses,
        "review": bool(cleaned.get("review")),
        "chosen_tenant": cleaned.get("tenant") if staff else None,
        "date_range": filterset.date_range(),
        "size": size,
        "page_sizes": PAGE_SIZES,
        "staff": staff,
        "can_export": not staff or request.user.has_perm(EXPORT_PERM),
        "gateway_methods": GATEWAY_METHODS,
    }
    template = (
        "payments/list.html#payment-results" if wants_fragment(request) else "payments/list.html"
    )
    response = render(request, template, context)
    # The same URL answers a fragment or the page: caches must key on the htmx header.
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- the export (CSV or XLSX, through the shared exporter) ---------------------------------


def _label(choices: list[tuple[str, str]]) -> Callable[[Any], str]:
    labels = dict(choices)
    return lambda value: labels.get(value, value or "")


def _gateway_method(value: str) -> str:
    return GATEWAY_METHODS.get(value, value)


STAFF_ONLY = {"Needs review", "Gateway order ID", "Note", "Recorded by"}
PAYMENT_TABLE = Table(
    title="Payments",
    columns=(
        Column("Payment ID", "id", K.INTEGER, width=10),
        Column("Created at", "created_at", K.DATETIME, width=17),
        Column("Captured at", "captured_at", K.DATETIME, width=17),
        Column("Received on", "received_on", K.DATE, width=12),
        Column("Customer", "tenant__display_name", width=28),
        Column("Customer GSTIN", "tenant__gstin", width=18),
        Column("Invoice number", "invoice__number", width=18),
        Column("Amount (INR)", "amount", K.MONEY, total=True),
        Column("Refunded (INR)", "amount_refunded", K.MONEY, total=True),
        Column("Net received (INR)", "net", K.MONEY, total=True),
        Column("Currency", "currency", width=8),
        Column("Method", "method", show=_label(Payment.Method.choices), width=20),
        Column("Gateway method", "gateway_method", show=_gateway_method, width=12),
        Column("Status", "status", show=_label(Payment.Status.choices), width=12),
        Column("Needs review", "review_reason", width=30),
        Column("Reference", "reference", width=20),
        Column("Gateway order ID", "gateway_order_id", width=22),
        Column("Gateway payment ID", "gateway_payment_id", width=22),
        Column("Failure reason", "failure_reason", width=30),
        Column("Note", "note", width=30),
        Column("Recorded by", "recorded_by__username", width=14),
    ),
    annotations={"net": F("amount") - F("amount_refunded")},
    # Money received: captured payments only, as the summary's Captured and Refunded cards.
    total_when=("status", lambda status: status == Payment.Status.CAPTURED),
    total_label="Total of captured payments",
)
REFUND_TABLE = Table(
    title="Refunds",
    columns=(
        Column("Refund ID", "id", K.INTEGER, width=10),
        Column("Created at", "created_at", K.DATETIME, width=17),
        Column("Processed at", "processed_at", K.DATETIME, width=17),
        Column("Customer", "invoice__tenant__display_name", width=28),
        Column("Customer GSTIN", "invoice__tenant__gstin", width=18),
        Column("Invoice number", "invoice__number", width=18),
        Column("Payment ID", "payment_id", K.INTEGER, width=10),
        Column("Payment method", "payment__method", show=_label(Payment.Method.choices)),
        Column("Payment reference", "payment__reference", width=20),
        Column("Gateway payment ID", "payment__gateway_payment_id", width=22),
        Column("Amount (INR)", "amount", K.MONEY, total=True),
        Column("Status", "status", show=_label(Refund.Status.choices), width=12),
        Column("Reason", "reason", width=30),
        Column("Reference", "reference", width=20),
        Column("Gateway refund ID", "gateway_refund_id", width=22),
        Column("Failure reason", "failure_reason", width=30),
        Column("Recorded by", "recorded_by__username", width=14),
    ),
    total_when=("status", lambda status: status == Refund.Status.PROCESSED),
    total_label="Total of processed refunds",
)


@login_required
@require_safe
def payment_export(request: AuthedRequest) -> HttpResponseBase:
    """/payments/export?format=csv|xlsx&kind=payments|refunds&<the page's filters>."""
    fmt = request.GET.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        return HttpResponseBadRequest("format is csv or xlsx.")
    kind = request.GET.get("kind", PAYMENTS)
    if kind not in KINDS:
        return HttpResponseBadRequest("kind is payments or refunds.")
    listing = _listing(request, kind)
    if listing.staff:
        require_staff_perm(request.user, EXPORT_PERM)
    filterset = _filterset(request, listing)
    if filterset.is_bound and not filterset.is_valid():
        # The page shows a bad filter and ignores it; a file would silently hold more rows.
        return HttpResponseBadRequest(
            " ".join(str(e) for errs in filterset.errors.values() for e in errs)
        )
    table = PAYMENT_TABLE if kind == PAYMENTS else REFUND_TABLE
    if not listing.staff:
        table = table.without(STAFF_ONLY)
    rows = filterset.qs.order_by("-created_at", "-id")
    filename = f"{kind}-{timezone.localdate():%Y%m%d}.{fmt}"
    if fmt == "csv":
        response: HttpResponseBase = StreamingHttpResponse(
            csv_lines(table, table.rows(rows, as_text=True)),
            content_type="text/csv; charset=utf-8",
        )
    else:
        count = rows.count()
        if count > settings.EXPORT_INLINE_MAX_ROWS:
            return HttpResponseBadRequest(
                f"These filters match {count:,} rows; an XLSX holds at most "
                f"{settings.EXPORT_INLINE_MAX_ROWS:,}: narrow them, or export CSV."
            )
        handle = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
        write_xlsx(table, table.rows(rows), handle)
        handle.seek(0)
        response = FileResponse(handle, content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
