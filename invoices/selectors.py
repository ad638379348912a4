"""Reads of invoices: the list with its summary, one invoice with everything the sheet shows."""

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, Prefetch, Q, QuerySet, Sum

from invoices.models import Invoice, InvoiceEvent
from payments.models import Payment, Refund
from tenants.access import scope_to_user
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
