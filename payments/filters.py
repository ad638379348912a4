"""The payments page's filters, for payments and refunds alike, all in the URL.

One FilterSet serves the page and its CSV export, so an export holds exactly the rows the page
listed. The date presets are the invoice list's (India's financial quarters and year).
"""

import datetime
from dataclasses import dataclass
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from invoices.filters import PERIOD_CHOICES, period_range
from invoices.models import Invoice
from payments.models import Payment, Refund
from tenants.models import Tenant

PAYMENTS = "payments"
REFUNDS = "refunds"
KINDS = (PAYMENTS, REFUNDS)

DATE_FIELD_CHOICES = [("created", "Created"), ("settled", "Captured / processed")]


@dataclass(frozen=True)
class Paths:
    """Where each filter looks on a payment, or on a refund (through its payment and invoice)."""

    statuses: list[tuple[str, str]]
    tenant: str
    method: str
    review: str
    dates: dict[str, str]  # DATE_FIELD_CHOICES -> a datetime column
    texts: tuple[str, ...]  # own columns the search looks in, beside the invoice number
    payment_texts: tuple[str, ...]  # the payment's columns it looks in (refunds only)


PATHS = {
    PAYMENTS: Paths(
        statuses=Payment.Status.choices,
        tenant="tenant",
        method="method",
        review="review_reason",
        dates={"created": "created_at", "settled": "captured_at"},
        texts=("reference", "gateway_order_id", "gateway_payment_id"),
        payment_texts=(),
    ),
    REFUNDS: Paths(
        statuses=Refund.Status.choices,
        tenant="invoice__tenant",
        method="payment__method",
        review="payment__review_reason",
        dates={"created": "created_at", "settled": "processed_at"},
        texts=("reference", "gateway_refund_id"),
        payment_texts=("reference", "gateway_payment_id"),
    ),
}


def _date_input(label: str) -> django_filters.DateFilter:
    return django_filters.DateFilter(
        method="filter_noop",
        label=label,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


class PaymentFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_search", label="Search")
    status = django_filters.MultipleChoiceFilter(
        choices=Payment.Status.choices, method="filter_status"
    )
    method = django_filters.ChoiceFilter(
        choices=Payment.Method.choices, method="filter_method", empty_label="All methods"
    )
    # ?review=1 is the link in the "payment to review" email to billing admins.
    review = django_filters.BooleanFilter(
        method="filter_review", widget=forms.CheckboxInput, label="Needs review"
    )
    tenant = django_filters.ModelChoiceFilter(
        queryset=Tenant.objects.order_by("display_name"),
        method="filter_tenant",
        empty_label="All customers",
    )
    period = django_filters.ChoiceFilter(
        choices=PERIOD_CHOICES, method="filter_noop", empty_label="Any date"
    )
    date_field = django_filters.ChoiceFilter(
        choices=DATE_FIELD_CHOICES, method="filter_noop", empty_label=None
    )
    start = _date_input("From")
    end = _date_input("To")

    def __init__(
        self,
        *args: Any,
        kind: str,
        today: datetime.date,
        tenants: QuerySet[Tenant] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(*args, **kw)
        self.kind = kind
        self.paths = PATHS[kind]
        self.today = today
        self.filters["status"].extra["choices"] = self.paths.statuses
        if tenants is None:
            del self.filters["tenant"]  # a customer sees one organisation: theirs
        else:
            self.filters["tenant"].queryset = tenants

    # --- the filters ------------------------------------------------------------------------

    def filter_noop(self, queryset: QuerySet[Any], name: str, value: object) -> QuerySet[Any]:
        return queryset  # read by filter_queryset's date range

    def filter_status(self, queryset: QuerySet[Any], name: str, value: list[str]) -> QuerySet[Any]:
        return queryset.filter(status__in=value)

    def filter_method(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(**{self.paths.method: value})

    def filter_review(self, queryset: QuerySet[Any], name: str, value: bool) -> QuerySet[Any]:
        return queryset.exclude(**{self.paths.review: ""}) if value else queryset

    def filter_tenant(self, queryset: QuerySet[Any], name: str, value: Tenant) -> QuerySet[Any]:
        return queryset.filter(**{self.paths.tenant: value})

    def filter_search(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        value = value.strip()
        if not value:
            return queryset
        # The invoice number (and a refund's payment) match as id subqueries, so the OR compares
        # this table's columns only, as the invoice list's search does.
        match = Q(invoice__in=Invoice.objects.filter(number__icontains=value).values("pk"))
        for column in self.paths.texts:
            match |= Q(**{f"{column}__icontains": value})
        if self.paths.payment_texts:
            either = Q()
            for column in self.paths.payment_texts:
                either |= Q(**{f"{column}__icontains": value})
            match |= Q(payment__in=Payment.objects.filter(either).values("pk"))
        return queryset.filter(match)

    # --- dates --------------------------------------------------------------------------------

    def date_range(self) -> tuple[datetime.date | None, datetime.date | None]:
        """The inclusive dates chosen: a preset, or from/to (which alone mean a custom range)."""
        data = self.form.cleaned_data if self.is_bound else {}
        preset = data.get("period") or ""
        if preset and preset != "custom":
            return period_range(preset, self.today)
        return data.get("from"), data.get("to")

    def _in_date_range(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        start, end = self.date_range()
        column = self.paths.dates[self.form.cleaned_data.get("date_field") or "created"]
        # Days in India, as whole-day bounds on the timestamp: a range the column's index
        # serves, where column__date would convert every row first.
        zone = timezone.get_current_timezone()
        if start:
            since = datetime.datetime.combine(start, datetime.time.min, tzinfo=zone)
            queryset = queryset.filter(**{f"{column}__gte": since})
        if end:
            next_day = end + datetime.timedelta(days=1)
            until = datetime.datetime.combine(next_day, datetime.time.min, tzinfo=zone)
            queryset = queryset.filter(**{f"{column}__lt": until})
        return queryset

    def filter_queryset(
        self, queryset: QuerySet[Any], *, any_status: bool = False
    ) -> QuerySet[Any]:
        for name, value in self.form.cleaned_data.items():
            if any_status and name == "status":
                continue
            queryset = self.filters[name].filter(queryset, value)
        return self._in_date_range(queryset)

    @property
    def qs_any_status(self) -> QuerySet[Any]:
        """Every filter but the status tabs: what the tabs' counts are counted over."""
        queryset = self.queryset.all()
        if not self.is_bound:
            return queryset
        self.errors  # noqa: B018 (validates the form, as FilterSet.qs does)
        return self.filter_queryset(queryset, any_status=True)

    @property
    def statuses(self) -> list[str]:
        """The status tabs chosen (none: all)."""
        if not self.is_bound:
            return []
        self.errors  # noqa: B018
        return list(self.form.cleaned_data.get("status") or [])


# ?from=...&to=... as on the invoice list; "from" cannot be a class attribute.
PaymentFilter.base_filters["from"] = PaymentFilter.base_filters.pop("start")
PaymentFilter.base_filters["to"] = PaymentFilter.base_filters.pop("end")
