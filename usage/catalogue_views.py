"""A tenant's plan and one-time charges, managed by billing admins from the tenant's page."""

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from billing_portal.lib.http import AuthedRequest
from invoices.forms import DATE_INPUT, GST_RATES
from invoices.lifecycle import InvoiceActionError
from invoices.models import Invoice
from tenants.access import tenant_for_user
from usage import services
from usage.models import Plan, Subscription


class SubscriptionForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=Plan.objects.filter(active=True))
    starts_on = forms.DateField(widget=DATE_INPUT, label="From")


class EndForm(forms.Form):
    ends_on = forms.DateField(widget=DATE_INPUT, label="Last day")


class ChargeForm(forms.Form):
    description = forms.CharField(max_length=300)
    sac_code = forms.RegexField(
        regex=r"^[0-9]{4,8}$",
        initial="998315",
        label="SAC/HSN",
        error_messages={"invalid": "A SAC or HSN code is 4 to 8 digits."},
    )
    quantity = forms.DecimalField(
        max_digits=20, decimal_places=6, min_value=Decimal("0.000001"), initial=1
    )
    unit_price = forms.DecimalField(
        max_digits=20, decimal_places=6, min_value=Decimal("0.01"), label="Unit price (₹)"
    )
    tax_rate = forms.TypedChoiceField(choices=GST_RATES, coerce=Decimal, initial="18", label="GST")
    invoice_now = forms.BooleanField(
        required=False, label="Invoice it now (a one-time invoice), not on the next monthly invoice"
    )


def _form_errors(request: AuthedRequest, form: forms.Form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label or field.replace("_", " ") if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{str(label).capitalize()}: {error}" if label else str(error))


@login_required
@require_POST
def subscription_start(request: AuthedRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_for_user(request, tenant_id, staff_perm="usage.add_subscription")
    form = SubscriptionForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
    else:
        try:
            sub = services.subscription_start(
                tenant=tenant, actor=request.user, **form.cleaned_data
            )
        except services.SubscriptionError as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request, f"{tenant.display_name} is on {sub.plan} from {sub.starts_on:%d %b %Y}."
            )
    return redirect("tenants:detail", tenant_id=tenant.pk)


@login_required
@require_POST
def subscription_end(request: AuthedRequest, tenant_id: int, subscription_id: int) -> HttpResponse:
    tenant = tenant_for_user(request, tenant_id, staff_perm="usage.change_subscription")
    subscription = get_object_or_404(Subscription, pk=subscription_id, tenant=tenant)
    form = EndForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
    else:
        try:
            services.subscription_end(
                subscription=subscription, actor=request.user, **form.cleaned_data
            )
        except services.SubscriptionError as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request, f"{subscription.plan} ends on {form.cleaned_data['ends_on']:%d %b %Y}."
            )
    return redirect("tenants:detail", tenant_id=tenant.pk)


@login_required
@require_POST
def charge_add(request: AuthedRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_for_user(request, tenant_id, staff_perm="usage.add_onetimecharge")
    form = ChargeForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return redirect("tenants:detail", tenant_id=tenant.pk)
    try:
        made = services.one_time_charge_add(tenant=tenant, actor=request.user, **form.cleaned_data)
    except InvoiceActionError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("tenants:detail", tenant_id=tenant.pk)
    if isinstance(made, Invoice):
        messages.success(
            request, f"Draft #{made.pk} created for {made.tenant}: finalize it to issue it."
        )
        return redirect("invoices:detail", invoice_id=made.pk)
    messages.success(
        request, f"“{made.description}” will be billed on {tenant.display_name}'s next invoice."
    )
    return redirect("tenants:detail", tenant_id=tenant.pk)
