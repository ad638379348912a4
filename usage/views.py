"""The usage dashboard and its exports (CSV, or XLSX up to EXPORT_INLINE_MAX_ROWS records).

Staff (with ``usage.view_usagerecord``) see every tenant or the one they pick; a customer sees
the organisation active in their session and nothing else: naming any other tenant answers 404.
"""

import datetime
import tempfile
from collections.abc import Iterator
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
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
from django.views.decorators.http import require_safe

from billing_portal.lib.exports import XLSX_CONTENT_TYPE, Column, Table, csv_lines, write_xlsx
from billing_portal.lib.exports import Kind as K
from billing_portal.lib.http import AuthedRequest
from billing_portal.lib.money import money_round
from invoices.filters import PERIOD_CHOICES, period_range
from tenants.access import get_for_user, require_staff_perm
from tenants.models import Tenant
from tenants.roles import is_staff_member
from usage import charts, selectors
from usage.models import Meter, UsageRecord
from usage.rating import rate
from usage.selectors import IST, UsageScope, billed_invoice_number

VIEW_PERM = "usage.view_usagerecord"
TOP_PER_METER = 5
DEFAULT_PERIOD = "this_month"
MAX_RANGE_DAYS = 3 * 366


class UsageFilterForm(forms.Form):
    """The dashboard's filters, all in the URL: ?period=&from=&to=&category=&meter= (and
    ?tenant=, which ``_viewer_scope`` reads: it decides access, not just filtering)."""

    period = forms.ChoiceField(choices=PERIOD_CHOICES, required=False)
    category = forms.ChoiceField(
        choices=[("", "All categories"), *Meter.Category.choices], required=False
    )
    meter = forms.ChoiceField(required=False)

    def __init__(self, data: Any, *, meters: list[Meter]) -> None:
        super().__init__(data)
        # "from" is a Python keyword: the fields are added by name.
        self.fields["from"] = forms.DateField(
            required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
        )
        self.fields["to"] = forms.DateField(
            required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
        )
        self.meters = {m.code: m for m in meters}
        cast(forms.ChoiceField, self.fields["meter"]).choices = [("", "All meters")] + [
            (m.code, m.name) for m in meters
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("from"), data.get("to")
        if not data.get("period"):
            data["period"] = "custom" if (start or end) else DEFAULT_PERIOD
        if data["period"] == "custom":
            if start and end and start > end:
                raise forms.ValidationError("The start of the range is after its end.")
            if start and end and (end - start).days > MAX_RANGE_DAYS:
                raise forms.ValidationError("A custom range covers at most three years.")
        return data

    def date_range(self, today: datetime.date) -> tuple[datetime.date | None, datetime.date]:
        period = self.cleaned_data["period"]
        if period == "custom":
            start: datetime.date | None = self.cleaned_data.get("from")
            end: datetime.date | None = self.cleaned_data.get("to")
            if end is None:
                # No end: up to today (or the start, for a start in the future); neither date
                # yet ("Custom range" just picked): this month so far.
                end = max(today, start) if start else today
                start = start if start else today.replace(day=1)
            return start, end
        return period_range(period, today)

    @property
    def chosen_meter(self) -> Meter | None:
        return self.meters.get(self.cleaned_data.get("meter") or "")


def _viewer_scope(request: AuthedRequest) -> tuple[Tenant | None, bool]:
    """(the tenant to show or None for all, whether the user is staff), or 403 / 404."""
    raw = request.GET.get("tenant", "").strip()
    if is_staff_member(request.user):
        require_staff_perm(request.user, VIEW_PERM)
        if not raw:
            return None, True
        return get_for_user(Tenant.objects.all(), request.user, pk=raw, tenant_field=None), True
    membership = request.active_membership
    if not membership:  # a lazy object: test its truth, not its identity
        raise Http404("You are not a member of any organisation.")
    if raw and raw != str(membership.tenant_id):
        raise Http404("No such organisation.")
    return membership.tenant, False


def _filters(request: AuthedRequest) -> tuple[UsageFilterForm, list[Meter]]:
    meters = list(Meter.objects.all())
    form = UsageFilterForm(request.GET, meters=meters)
    form.is_valid()
    return form, meters


def _scope(form: UsageFilterForm, tenant: Tenant | None, today: datetime.date) -> UsageScope:
    if form.errors:
        # Filters that do not make sense are shown with their errors over this month's figures.
        start, end = period_range(DEFAULT_PERIOD, today)
        return UsageScope(tenant=tenant, start=start, end=end)
    start, end = form.date_range(today)
    return UsageScope(
        tenant=tenant,
        start=start,
        end=end,
        meter=form.chosen_meter,
        category=form.cleaned_data.get("category", ""),
    )


@login_required
@require_safe
def dashboard(request: AuthedRequest) -> HttpResponse:
    tenant, staff = _viewer_scope(request)
    form, meter_list = _filters(request)
    now = timezone.now()
    today = now.astimezone(IST).date()
    scope = _scope(form, tenant, today)
    meters = {m.pk: m for m in meter_list}
    records = selectors.usage_records(scope)
    pricing = selectors.tenant_pricing(tenant, scope.start, scope.end) if tenant else None
    breakdown = selectors.usage_breakdown(records, meters, pricing)

    chart = None
    first = scope.start or (selectors.first_day(records) if breakdown.records else None)
    last = min(scope.end, today)
    if breakdown.records and first is not None and first <= last:
        bucket = selectors.bucket_for(first, last)
        chart = charts.build_chart(
            selectors.usage_series(records, bucket), meters, first, last, bucket
        )
    context = {
        "form": form,
        "staff": staff,
        "tenants": Tenant.objects.order_by("display_name").values_list("id", "display_name")
        if staff
        else [],
        "tenant": tenant,
        "scope": scope,
        "range_start": first,
        "breakdown": breakdown,
        "chart": chart,
        "top": selectors.top_resources(records, meters, breakdown.meters, TOP_PER_METER)
        if breakdown.records
        else [],
        "projection": selectors.billing_projection(tenant, now=now) if tenant else None,
        "now": now,
    }
    template = "usage/dashboard.html#usage-results" if request.htmx else "usage/dashboard.html"
    return render(request, template, context)


# --- Exports (CSV or XLSX, through the shared exporter) ---------------------------------------


def _record_table() -> Table:
    return Table(
        title="Usage records",
        columns=(
            Column("Tenant", "tenant__display_name", width=28),
            Column("Meter", "meter__code", width=18),
            Column("Category", "meter__category", width=12),
            Column("Resource ID", "resource_id", width=20),
            Column("Resource name", "resource_name", width=20),
            Column("Region", "region", width=12),
            Column("Dimension", "dimension_value", width=10),
            Column("Quantity", "quantity", K.NUMBER, width=12),
            Column("Unit", "meter__unit", width=12),
            Column("Window start", "window_start", K.DATETIME, width=17),
            Column("Window end", "window_end", K.DATETIME, width=17),
            Column("Idempotency key", "idempotency_key", width=24),
            Column("Invoice", "billed_on", width=18),
        ),
        annotations={"billed_on": billed_invoice_number()},
    )


# Rows built in Python (rated per group): ``field`` names only what each column holds.
BREAKDOWN_TABLE = Table(
    title="Usage breakdown",
    columns=(
        Column("Tenant", "tenant", width=28),
        Column("Month", "month", width=9),
        Column("Category", "category", width=12),
        Column("Meter", "meter", width=18),
        Column("Dimension", "dimension", width=10),
        Column("Unit", "unit", width=12),
        Column("Records", "records", K.INTEGER, width=9),
        Column("Quantity", "quantity", K.NUMBER, width=14),
        Column("Rated amount (INR, before GST)", "amount", K.MONEY, total=True, width=16),
    ),
    total_label="Total rated",
)


def _breakdown_rows(
    records: QuerySet[UsageRecord],
    meters: dict[int, Meter],
    tenant: Tenant | None,
    scope: UsageScope,
) -> Iterator[tuple[Any, ...]]:
    """One row per tenant, month, meter and dimension: the grain of an invoice's usage lines.
    Rated (at the tenant's current prices) only when one tenant is chosen."""
    pricing = selectors.tenant_pricing(tenant, scope.start, scope.end) if tenant else None
    groups = selectors.monthly_groups(records).order_by(
        "tenant_id", "month", "meter_id", "dimension_value"
    )
    for group in groups.iterator(chunk_size=2000):
        meter = meters[group["meter_id"]]
        price = pricing.price_for(meter.pk, group["dimension_value"]) if pricing else None
        amount = rate(price, group["quantity"]).amount if price else None
        yield (
            group["tenant__display_name"],
            f"{group['month'].astimezone(IST):%Y-%m}",
            meter.category,
            meter.code,
            group["dimension_value"],
            meter.unit,
            group["records"],
            group["quantity"],
            money_round(amount) if amount is not None else None,
        )


@login_required
@require_safe
def export(request: AuthedRequest) -> HttpResponseBase:
    """/usage/export?format=csv|xlsx&kind=records|breakdown&<the dashboard's filters>."""
    tenant, _ = _viewer_scope(request)
    fmt = request.GET.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        return HttpResponseBadRequest("format is csv or xlsx.")
    kind = request.GET.get("kind", "records")
    if kind not in ("records", "breakdown"):
        return HttpResponseBadRequest("kind is records or breakdown.")
    form, meter_list = _filters(request)
    if form.errors:
        return HttpResponseBadRequest(
            " ".join(str(e) for errs in form.errors.values() for e in errs)
        )
    today = timezone.localdate()
    scope = _scope(form, tenant, today)
    records = selectors.usage_records(scope)
    meters = {m.pk: m for m in meter_list}
    if kind == "records":
        ordered = records.order_by("window_start", "id")
        if fmt == "xlsx" and ordered.count() > settings.EXPORT_INLINE_MAX_ROWS:
            return HttpResponseBadRequest(
                f"An XLSX holds at most {settings.EXPORT_INLINE_MAX_ROWS:,} records: narrow "
                "the filters, or export CSV (streamed, any size)."
            )
        table = _record_table()
        rows = table.rows(ordered, as_text=fmt == "csv")
    else:
        table = BREAKDOWN_TABLE
        rows = _breakdown_rows(records, meters, tenant, scope)

    who = f"{tenant.pk}-" if tenant else ""
    since = f"{scope.start:%Y%m%d}-" if scope.start else "start-"
    filename = f"usage-{kind}-{who}{since}{scope.end:%Y%m%d}.{fmt}"
    if fmt == "csv":
        response: HttpResponseBase = StreamingHttpResponse(
            csv_lines(table, rows), content_type="text/csv; charset=utf-8"
        )
    else:
        handle = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
        write_xlsx(table, rows, handle)
        handle.seek(0)
        response = FileResponse(handle, content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
