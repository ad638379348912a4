"""The usage dashboard's filters, all in the URL; the dashboard, its exports and export jobs read
them alike."""

import datetime
from typing import Any, cast

from django import forms
from django.contrib.auth.models import User
from django.http import Http404, QueryDict

from invoices.filters import PERIOD_CHOICES, period_range
from tenants.access import get_for_user
from tenants.models import Tenant
from tenants.roles import is_staff_member
from usage.models import Meter
from usage.selectors import UsageScope

DEFAULT_PERIOD = "this_month"
MAX_RANGE_DAYS = 3 * 366


class UsageFilterForm(forms.Form):
    """The dashboard's filters, all in the URL: ?period=&from=&to=&category=&meter= (and
    ?tenant=, which the views read themselves: it decides access, not just filtering)."""

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


def usage_filters(params: QueryDict) -> tuple[UsageFilterForm, list[Meter]]:
    """The form bound to these URL parameters, validated, and every meter (its choices)."""
    meters = list(Meter.objects.all())
    form = UsageFilterForm(params, meters=meters)
    form.is_valid()
    return form, meters


def usage_scope(form: UsageFilterForm, tenant: Tenant | None, today: datetime.date) -> UsageScope:
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


def usage_tenant(user: User, named: str, *, own: Tenant | None) -> Tenant | None:
    """The tenant whose usage is shown: for staff the one ?tenant= names (blank: None, every
    tenant); for a customer ``own``, their active organisation. Naming any other answers 404."""
    if is_staff_member(user):
        if not named:
            return None
        return get_for_user(Tenant.objects.all(), user, pk=named, tenant_field=None)
    if own is None:
        raise Http404("You are not a member of any organisation.")
    if named and named != str(own.pk):
        raise Http404("No such organisation.")
    return own
