"""The invoice list's filters, all in the URL so a filtered view can be bookmarked and shared."""

import datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from invoices.models import Invoice, InvoiceLine
from tenants.models import Tenant
from usage.models import Plan, Subscription

PERIOD_CHOICES = [
    ("this_month", "This month"),
    ("last_month", "Last month"),
    ("this_quarter", "This quarter"),
    ("last_quarter", "Last quarter"),
    ("this_year", "This financial year"),
    ("as_of_today", "As of today"),
    ("custom", "Custom range"),
]
DATE_FIELD_CHOICES = [
    ("issue_date", "Issue date"),
    ("due_date", "Due date"),
    ("period_start", "Billing period"),
]
SORTS = {
    "number": ("financial_year", "sequence"),
    "customer": ("tenant__display_name",),
    "period": ("period_start",),
    "issued": ("issue_date",),
    "due": ("due_date",),
    "total": ("total",),
    "balance": ("balance_due",),
    "status": ("status",),
}


def _month_start(day: datetime.date, months_back: int = 0) -> datetime.date:
    index = day.year * 12 + day.month - 1 - months_back
    return datetime.date(index // 12, index % 12 + 1, 1)


def period_range(preset: str, today: datetime.date) -> tuple[datetime.date | None, datetime.date]:
    """The inclusive date range of a preset. Quarters and years are India's financial ones
    (April to March); calendar and financial quarters share their boundaries."""
    if preset == "this_month":
        start = _month_start(today)
        return start, _month_start(today, -1) - datetime.timedelta(days=1)
    if preset == "last_month":
        start = _month_start(today, 1)
        return start, _month_start(today) - datetime.timedelta(days=1)
    quarter_start = _month_start(today, (today.month - 1) % 3)
    if preset == "this_quarter":
        return quarter_start, _month_start(quarter_start, -3) - datetime.timedelta(days=1)
    if preset == "last_quarter":
        return _month_start(quarter_start, 3), quarter_start - datetime.timedelta(days=1)
    if preset == "this_year":
        start_year = today.year if today.month >= 4 else today.year - 1
        return datetime.date(start_year, 4, 1), datetime.date(start_year + 1, 3, 31)
    if preset == "as_of_today":
        return None, today
    raise ValueError(preset)


class InvoiceFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_search", label="Search")
    kind = django_filters.ChoiceFilter(choices=Invoice.Kind.choices, empty_label="All kinds")
    tenant = django_filters.ModelChoiceFilter(
        queryset=Tenant.objects.order_by("display_name"), empty_label="All customers"
    )
    plan = django_filters.ModelChoiceFilter(
        queryset=Plan.objects.order_by("name"), method="filter_plan", empty_label="All plans"
    )
    period = django_filters.ChoiceFilter(
        choices=PERIOD_CHOICES, method="filter_period", empty_label="Any date"
    )
    date_field = django_filters.ChoiceFilter(
        choices=DATE_FIELD_CHOICES, method="filter_noop", empty_label=None
    )
    start = django_filters.DateFilter(
        method="filter_noop",
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end = django_filters.DateFilter(
        method="filter_noop",
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    total_min = django_filters.NumberFilter(field_name="total", lookup_expr="gte", label="Total ≥")
    total_max = django_filters.NumberFilter(field_name="total", lookup_expr="lte", label="Total ≤")
    balance_min = django_filters.NumberFilter(
        field_name="balance_due", lookup_expr="gte", label="Balance ≥"
    )
    balance_max = django_filters.NumberFilter(
        field_name="balance_due", lookup_expr="lte", label="Balance ≤"
    )

    class Meta:
        model = Invoice
        fields = ["q", "kind", "tenant", "plan", "period", "date_field"]

    def __init__(
        self, *args: Any, today: datetime.date, tenants: QuerySet[Tenant] | None = None, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.today = today
        if tenants is None:
            del self.filters["tenant"]
            del self.filters["plan"]
        else:
            self.filters["tenant"].queryset = tenants

    def filter_noop(
        self, queryset: QuerySet[Invoice], name: str, value: object
    ) -> QuerySet[Invoice]:
        return queryset  # read by filter_period

    def filter_plan(self, queryset: QuerySet[Invoice], name: str, value: Plan) -> QuerySet[Invoice]:
        """Invoices of tenants that have been on the plan (an id subquery: no join fan-out)."""
        return queryset.filter(
            tenant__in=Subscription.objects.filter(plan=value).values("tenant_id")
        )

    def filter_search(
        self, queryset: QuerySet[Invoice], name: str, value: str
    ) -> QuerySet[Invoice]:
        value = value.strip()
        if not value:
            return queryset
        # Each alternative is an id subquery on its own table, so the OR compares invoice columns
        # only; an OR across the tenant join made PostgreSQL test every invoice-tenant pair
        # (measured by bench/bench_invoice_list.py: over 30 s on a million invoices).
        tenants = Tenant.objects.filter(
            Q(display_name__icontains=value) | Q(legal_name__icontains=value)
        ).values("pk")
        lines = InvoiceLine.objects.filter(description__icontains=value).values("invoice_id")
        return queryset.filter(Q(number__icontains=value) | Q(tenant__in=tenants) | Q(pk__in=lines))

    def filter_period(
        self, queryset: QuerySet[Invoice], name: str, value: str
    ) -> QuerySet[Invoice]:
        field = self.form.cleaned_data.get("date_field") or "issue_date"
        if value == "custom":
            start = self.form.cleaned_data.get("from")
            end = self.form.cleaned_data.get("to")
        else:
            start, end = period_range(value, self.today)
        if start:
            queryset = queryset.filter(**{f"{field}__gte": start})
        if end:
            queryset = queryset.filter(**{f"{field}__lte": end})
        return queryset


# DESIGN.md names the custom range ?from=...&to=...; "from" cannot be a class attribute.
InvoiceFilter.base_filters["from"] = InvoiceFilter.base_filters.pop("start")
InvoiceFilter.base_filters["to"] = InvoiceFilter.base_filters.pop("end")
