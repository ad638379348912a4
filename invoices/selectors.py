"""Reads of invoices: the list with its summary, one invoice with everything the sheet shows."""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, F, Prefetch, Q, QuerySet, Sum
from django.http import QueryDict

from invoices.filters import SORTS, InvoiceFilter
from invoices.models import Invoice, InvoiceEvent
from payments.models import Payment, Refund
from tenants.access import scope_to_user
from tenants.models import Tenant
from tenants.roles import is_staff_member

S = Invoice.Status
ISSUED = ~Q(status__in=[S.DRAFT, S.VOIDED])
OPEN = [S.PENDING, S.SENT, S.PARTIALLY_PAID]


def invoices_for(user: User | AnonymousUser) -> QuerySet[Invoice]:
    """What a user may see: staff everything; customers their organisations' sent invoices."""
    invoices = scope_to_user(Invoice.objects.all(), user)
    if not is_staff_member(user):
        # A customer never sees a draft, or an invoice finalized but not yet sent to them.
        invoices = invoices.filter(sent_at__isnull=False)
    return invoices


def list_ordering(sort: str) -> list[Any]:
    key = sort.lstrip("-")
    if key not in SORTS:
        # Drafts (no issue date yet) first: they need attention. Matches the index's order.
        return [F("issue_date").desc(nulls_first=True), "-id"]
    prefix = "-" if sort.startswith("-") else ""
    return [f"{prefix}{field}" for field in SORTS[key]] + [f"{prefix}id"]


@dataclass(frozen=True)
class Listing:
    filterset: InvoiceFilter
    statuses: list[str]
    filtered: QuerySet[Invoice]  # every filter but the status tabs (their counts need it)
    rows: QuerySet[Invoice]  # every filter, in the list's order
    sort: str
    staff: bool


def invoice_listing(
    user: User | AnonymousUser,
    params: QueryDict,
    *,
    tenant_id: int | None,
    today: datetime.date,
) -> Listing:
    """The invoice list's rows for these URL parameters: the page and its exports both read it,
    so an export holds exactly what the list shows. A customer is held to ``tenant_id``."""
    staff = is_staff_member(user)
    invoices = invoices_for(user)
    if not staff:
        invoices = invoices.none() if tenant_id is None else invoices.filter(tenant_id=tenant_id)
    statuses = [s for s in params.getlist("status") if s in S.values]
    filterset = InvoiceFilter(
        params or None,
        queryset=invoices,
        today=today,
        tenants=Tenant.objects.order_by("display_name").only("id", "display_name")
        if staff
        else None,
    )
    filtered = filterset.qs
    rows = filtered.filter(status__in=statuses) if statuses else filtered
    sort = params.get("sort", "")
    return Listing(
        filterset=filterset,
        statuses=statuses,
        filtered=filtered,
        rows=rows.order_by(*list_ordering(sort)),
        sort=sort,
        staff=staff,
    )


@dataclass(frozen=True)
class Summary:
    count: int  # rows matching every filter, statuses included
    invoiced: Decimal
    paid: Decimal
    pending: Decimal
    overdue: Decimal
    balance: Decimal
    status_counts: dict[str, int]  # per status, with every filter but the status tabs
    all_count: int


def invoice_summary(queryset: QuerySet[Invoice], statuses: list[str]) -> Summary:
    """The summary bar and the status tab counts in one aggregate query."""
    chosen = Q(status__in=statuses) if statuses else Q()
    zero = Decimal("0.00")
    row = queryset.aggregate(
        all_count=Count("id"),
        count=Count("id", filter=chosen),
        invoiced=Sum("total", filter=chosen & ISSUED, default=zero),
        paid=Sum("amount_paid", filter=chosen & ~Q(status=S.VOIDED), default=zero),
        pending=Sum("balance_due", filter=chosen & Q(status__in=OPEN), default=zero),
        overdue=Sum("balance_due", filter=chosen & Q(status=S.OVERDUE), default=zero),
        balance=Sum("balance_due", filter=chosen & ISSUED, default=zero),
        **{f"n_{s}": Count("id", filter=Q(status=s)) for s in S.values},
    )
    return Summary(
        count=row["count"],
        invoiced=row["invoiced"],
        paid=row["paid"],
        pending=row["pending"],
        overdue=row["overdue"],
        balance=row["balance"],
        status_counts={s: row[f"n_{s}"] for s in S.values},
        all_count=row["all_count"],
    )


def invoice_for_sheet(queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
    return queryset.select_related("tenant", "approved_by", "regenerated_from").prefetch_related(
        "lines",
        Prefetch(
            "payments",
            queryset=Payment.objects.order_by("created_at").select_related("recorded_by"),
        ),
        Prefetch("refunds", queryset=Refund.objects.order_by("created_at")),
        Prefetch("events", queryset=InvoiceEvent.objects.select_related("actor")),
        "disputes",
    )
