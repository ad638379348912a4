"""The payments page (/payments/) and its export: payments, or refunds with ?kind=refunds.

Staff with ``payments.view_payment`` (``payments.view_refund`` for refunds) see every tenant and
may pick one. A customer sees the organisation active in their session, read-only, without the
columns that are the billing team's business: who recorded a payment, why it waits for review,
internal notes and gateway order ids (the gateway payment id is on their receipt, so it stays).

The export (CSV or XLSX, written by the shared exporter; payments/exports.py) answers exactly the
page's rows, through the same FilterSet: at once up to EXPORT_INLINE_MAX_ROWS rows, otherwise as
an export job whose page follows its progress. Staff also need ``invoices.export_invoice``; a
customer exports their own organisation's rows, with the columns their page shows, as the usage
export does.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Aggregate, Count, Q, QuerySet, Sum
from django.http import HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from billing_portal.lib.http import AuthedRequest, wants_fragment
from exports.services import EXPORT_PERM, ExportRefused
from exports.shortcuts import export_response
from invoices.views import PAGE_SIZES, CountedPaginator
from payments import exports as ex
from payments.filters import KINDS, PAYMENTS, REFUNDS, PaymentFilter
from payments.models import Payment, Refund
from payments.selectors import payment_filterset
from tenants.access import require_staff_perm, tenant_scope
from tenants.roles import is_staff_member

VIEW_PERMS = {PAYMENTS: "payments.view_payment", REFUNDS: "payments.view_refund"}
ZERO = Decimal("0.00")


# --- who sees what ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    kind: str
    staff: bool
    tenant_id: int | None  # a customer's active organisation; None: staff, every tenant


def _listing(request: AuthedRequest, kind: str) -> Listing:
    """Whose rows of ``kind`` the user sees, or 403 (staff without the permission) / 404."""
    staff = is_staff_member(request.user)
    if staff:
        require_staff_perm(request.user, VIEW_PERMS[kind])
    return Listing(kind=kind, staff=staff, tenant_id=tenant_scope(request))


def _filterset(request: AuthedRequest, listing: Listing) -> PaymentFilter:
    return payment_filterset(
        request.user,
        request.GET,
        kind=listing.kind,
        tenant_id=listing.tenant_id,
        today=timezone.localdate(),
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
        "gateway_methods": ex.GATEWAY_METHODS,
    }
    template = (
        "payments/list.html#payment-results" if wants_fragment(request) else "payments/list.html"
    )
    response = render(request, template, context)
    # The same URL answers a fragment or the page: caches must key on the htmx header.
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- the export (CSV or XLSX, through the shared exporter) ---------------------------------


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
    today = timezone.localdate()
    try:
        export = ex.payment_export(
            request.user, request.GET, kind=kind, tenant_id=listing.tenant_id, today=today
        )
    except ExportRefused as error:
        return HttpResponseBadRequest(str(error))
    return export_response(
        request,
        export,
        kind=ex.JOB_KINDS[kind],
        fmt=fmt,
        tenant_id=listing.tenant_id,
        filename=export.filename(fmt, today),
    )
