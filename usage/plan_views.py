"""Meter and plan pages: billing admins edit, finance reads, customers are refused (403).

Every view checks the permission before it looks anything up, so a customer gets the same 403 for
an id that exists and one that does not.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from billing_portal.lib.http import AuthedRequest
from tenants.access import require_staff_perm
from usage import catalogue
from usage.models import Meter, Plan, PlanPrice
from usage.plan_forms import MeterForm, PlanForm, PriceEditor, QuantityForm, add_service_error

PRICES_APPLY = (
    "Prices are read when an invoice is generated: a change applies to invoices generated from "
    "now on, and invoices already generated keep their amounts."
)


def _refuse(request: AuthedRequest, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


# --- Meters ---------------------------------------------------------------------------------


@login_required
def meter_list(request: AuthedRequest) -> HttpResponse:
    require_staff_perm(request.user, "usage.view_meter")
    return render(
        request,
        "usage/meters/list.html",
        {
            "meters": catalogue.meter_rows(),
            "can_add": request.user.has_perm("usage.add_meter"),
            "can_change": request.user.has_perm("usage.change_meter"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def meter_create(request: AuthedRequest) -> HttpResponse:
    require_staff_perm(request.user, "usage.add_meter")
    form = MeterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            meter = catalogue.meter_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request, f"{meter.name} ({meter.code}) was added: usage can be sent for it now."
            )
            return redirect("plans:meter_list")
    return render(request, "usage/meters/form.html", {"form": form, "meter": None})


@login_required
@require_http_methods(["GET", "POST"])
def meter_edit(request: AuthedRequest, meter_id: int) -> HttpResponse:
    require_staff_perm(request.user, "usage.change_meter")
    meter = get_object_or_404(Meter, pk=meter_id)
    in_use = catalogue.meter_in_use(meter)
    form = MeterForm(request.POST or None, initial=MeterForm.initial_for(meter), locked=in_use)
    if request.method == "POST" and form.is_valid():
        try:
            meter = catalogue.meter_update(meter=meter, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"{meter.name} was saved.")
            return redirect("plans:meter_list")
    return render(
        request, "usage/meters/form.html", {"form": form, "meter": meter, "in_use": in_use}
    )


def _meter_set_active(request: AuthedRequest, meter_id: int, *, active: bool) -> HttpResponse:
    require_staff_perm(request.user, "usage.change_meter")
    meter = get_object_or_404(Meter, pk=meter_id)
    try:
        meter = catalogue.meter_set_active(meter=meter, active=active, actor=request.user)
    except ValidationError as error:
        _refuse(request, error)
    else:
        if active:
            messages.success(request, f"{meter.name} is active: usage for it is accepted again.")
        else:
            messages.success(
                request,
                f"{meter.name} is deactivated: the usage API and imports refuse new records for "
                "it and it cannot be added to plans. Records already stored are still billed.",
            )
    return redirect("plans:meter_list")


@login_required
@require_POST
def meter_deactivate(request: AuthedRequest, meter_id: int) -> HttpResponse:
    return _meter_set_active(request, meter_id, active=False)


@login_required
@require_POST
def meter_reactivate(request: AuthedRequest, meter_id: int) -> HttpResponse:
    return _meter_set_active(request, meter_id, active=True)


# --- Plans ----------------------------------------------------------------------------------


@login_required
def plan_list(request: AuthedRequest) -> HttpResponse:
    require_staff_perm(request.user, "usage.view_plan")
    return render(
        request,
        "usage/plans/list.html",
        {
            "plans": catalogue.plan_rows(),
            "can_add": request.user.has_perm("usage.add_plan"),
            "can_view_meters": request.user.has_perm("usage.view_meter"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def plan_create(request: AuthedRequest) -> HttpResponse:
    require_staff_perm(request.user, "usage.add_plan")
    form = PlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            plan = catalogue.plan_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"{plan.name} was created. Add its prices next.")
            return redirect("plans:plan_detail", plan_id=plan.pk)
    return render(request, "usage/plans/form.html", {"form": form, "plan": None})


@login_required
def plan_detail(request: AuthedRequest, plan_id: int) -> HttpResponse:
    require_staff_perm(request.user, "usage.view_plan")
    plan = get_object_or_404(Plan, pk=plan_id)
    prices = list(catalogue.plan_prices(plan))
    # "Price a quantity": what each price makes of it, rated by the monthly run's own code.
    quantity_form = QuantityForm(request.GET if "quantity" in request.GET else None)
    previews, quantity_text = {}, None
    if quantity_form.is_bound and quantity_form.is_valid():
        quantity = quantity_form.cleaned_data["quantity"]
        quantity_text = catalogue.number_text(quantity)
        previews = {row.pk: catalogue.rate_row(row, quantity) for row in prices}
    return render(
        request,
        "usage/plans/detail.html",
        {
            "plan": plan,
            "rows": [
                {
                    "price": row,
                    "label": _label(row),
                    "lines": catalogue.price_lines(row),
                    "included": catalogue.number_text(row.included_quantity),
                    "rated": previews.get(row.pk),
                }
                for row in prices
            ],
            "active_subscriptions": catalogue.plan_active_subscriptions(plan),
            "quantity_form": quantity_form,
            "quantity_text": quantity_text,
            "can_change": request.user.has_perm("usage.change_plan"),
            "prices_apply": PRICES_APPLY,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def plan_edit(request: AuthedRequest, plan_id: int) -> HttpResponse:
    require_staff_perm(request.user, "usage.change_plan")
    plan = get_object_or_404(Plan, pk=plan_id)
    form = PlanForm(request.POST or None, initial=PlanForm.initial_for(plan))
    if request.method == "POST" and form.is_valid():
        try:
            plan = catalogue.plan_update(plan=plan, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"{plan.name} was saved. {PRICES_APPLY}")
            return redirect("plans:plan_detail", plan_id=plan.pk)
    return render(request, "usage/plans/form.html", {"form": form, "plan": plan})


def _plan_set_active(request: AuthedRequest, plan_id: int, *, active: bool) -> HttpResponse:
    require_staff_perm(request.user, "usage.change_plan")
    plan = get_object_or_404(Plan, pk=plan_id)
    try:
        plan = catalogue.plan_set_active(plan=plan, active=active, actor=request.user)
    except ValidationError as error:
        _refuse(request, error)
    else:
        if active:
            messages.success(request, f"{plan.name} is active: tenants can be put on it again.")
        else:
            staying = catalogue.plan_active_subscriptions(plan)
            messages.success(
                request,
                f"{plan.name} is deactivated: no tenant can be put on it from now on."
                + (
                    f" The {staying} subscription{'s' if staying != 1 else ''} on it stay and "
                    "are billed as before; move those tenants from their pages to end them."
                    if staying
                    else ""
                ),
            )
    return redirect("plans:plan_detail", plan_id=plan.pk)


@login_required
@require_POST
def plan_deactivate(request: AuthedRequest, plan_id: int) -> HttpResponse:
    return _plan_set_active(request, plan_id, active=False)


@login_required
@require_POST
def plan_reactivate(request: AuthedRequest, plan_id: int) -> HttpResponse:
    return _plan_set_active(request, plan_id, active=True)


# --- Prices of a plan -----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def price_add(request: AuthedRequest, plan_id: int) -> HttpResponse:
    require_staff_perm(request.user, "usage.change_plan")
    plan = get_object_or_404(Plan, pk=plan_id)
    editor = PriceEditor(request.POST or None)
    if request.method == "POST" and editor.is_valid():
        data = editor.form.cleaned_data
        try:
            row = catalogue.plan_price_add(
                plan=plan,
                meter=data["meter"],
                dimension_value=data["dimension_value"],
                actor=request.user,
                **editor.pricing(),
            )
        except ValidationError as error:
            editor.add_service_error(error)
        else:
            messages.success(request, f"{_label(row)} is priced on {plan.name}. {PRICES_APPLY}")
            return redirect("plans:plan_detail", plan_id=plan.pk)
    return render(
        request, "usage/plans/price_form.html", {"plan": plan, "price": None, "editor": editor}
    )


@login_required
@require_http_methods(["GET", "POST"])
def price_edit(request: AuthedRequest, plan_id: int, price_id: int) -> HttpResponse:
    require_staff_perm(request.user, "usage.change_plan")
    price = get_object_or_404(
        PlanPrice.objects.select_related("plan", "meter"), pk=price_id, plan_id=plan_id
    )
    editor = PriceEditor(request.POST or None, price=price)
    if request.method == "POST" and editor.is_valid():
        try:
            price = catalogue.plan_price_update(price=price, actor=request.user, **editor.pricing())
        except ValidationError as error:
            editor.add_service_error(error)
        else:
            messages.success(request, f"The price of {_label(price)} was saved. {PRICES_APPLY}")
            return redirect("plans:plan_detail", plan_id=price.plan_id)
    return render(
        request,
        "usage/plans/price_form.html",
        {"plan": price.plan, "price": price, "editor": editor},
    )


@login_required
@require_POST
def price_remove(request: AuthedRequest, plan_id: int, price_id: int) -> HttpResponse:
    require_staff_perm(request.user, "usage.change_plan")
    price = get_object_or_404(
        PlanPrice.objects.select_related("meter"), pk=price_id, plan_id=plan_id
    )
    label = _label(price)
    consequence = catalogue.plan_price_remove(price=price, actor=request.user)
    messages.success(request, f"The price of {label} was removed. {consequence}")
    return redirect("plans:plan_detail", plan_id=plan_id)


def _label(row: PlanPrice) -> str:
    if row.dimension_value:
        return f"{row.meter.name} ({row.dimension_value})"
    if row.meter.dimension:
        return f"{row.meter.name} (every {row.meter.dimension})"
    return row.meter.name
