import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from billing_portal.lib.http import AuthedRequest, wants_fragment
from tenants import selectors, services
from tenants.access import membership_of, require_staff_perm, tenant_for_user
from tenants.forms import (
    BillingProfileForm,
    MemberAddForm,
    MemberRoleForm,
    ProviderProfileForm,
    StatusChangeForm,
    SuspendForm,
    TenantForm,
    TenantSwitchForm,
)
from tenants.middleware import ACTIVE_TENANT_SESSION_KEY
from tenants.models import Membership, ProviderProfile, Tenant
from tenants.roles import customer_can, is_staff_member
from usage import catalogue_views

PAGE_SIZE = 25


def _refuse(request: AuthedRequest, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


@login_required
def tenant_list(request: AuthedRequest) -> HttpResponse:
    require_staff_perm(request.user, "tenants.view_tenant")
    q = request.GET.get("q", "").strip()
    status = request.GET.get("status", "")
    page = Paginator(selectors.tenant_list(q=q, status=status), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "q": q,
        "status": status,
        "status_counts": selectors.tenant_status_counts(),
        "statuses": Tenant.Status.choices,
    }
    template = "tenants/list.html#tenant-table" if wants_fragment(request) else "tenants/list.html"
    response = render(request, template, context)
    # The same URL answers a fragment or the page: caches must key on the htmx header.
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_http_methods(["GET", "POST"])
def tenant_create(request: AuthedRequest) -> HttpResponse:
    require_staff_perm(request.user, "tenants.add_tenant")
    form = TenantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        tenant = services.tenant_save(tenant=form.save(commit=False), actor=request.user)
        messages.success(request, f"{tenant.display_name} was created. Add its owner next.")
        return redirect("tenants:detail", tenant_id=tenant.pk)
    return render(request, "tenants/form.html", {"form": form, "tenant": None})


@login_required
def tenant_detail(request: AuthedRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_for_user(request, tenant_id)
    user = request.user
    return render(
        request,
        "tenants/detail.html",
        {
            "tenant": tenant,
            "members": selectors.tenant_members(tenant),
            "membership": membership_of(user, tenant),
            "can_edit": user.has_perm("tenants.change_tenant"),
            "can_manage_members": user.has_perm("tenants.manage_members"),
            "can_suspend": user.has_perm("tenants.suspend_tenant"),
            "member_form": MemberAddForm(),
            "subscriptions": tenant.subscriptions.select_related("plan"),
            "pending_charges": tenant.one_time_charges.filter(invoice_line__isnull=True),
            "subscription_form": catalogue_views.SubscriptionForm(),
            "end_form": catalogue_views.EndForm(),
            "charge_form": catalogue_views.ChargeForm(),
            "can_manage_billing": user.has_perm("usage.add_subscription"),
            "suspend_form": SuspendForm(),
            "reactivate_form": StatusChangeForm(),
            "roles": Membership.Role.choices,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def tenant_edit(request: AuthedRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_for_user(request, tenant_id, staff_perm="tenants.change_tenant")
    form = TenantForm(request.POST or None, instance=tenant)
    if request.method == "POST" and form.is_valid():
        services.tenant_save(tenant=form.save(commit=False), actor=request.user)
        messages.success(request, "The billing profile was saved.")
        return redirect("tenants:detail", tenant_id=tenant.pk)
    return render(request, "tenants/form.html", {"form": form, "tenant": tenant})


@login_required
@require_http_methods(["GET", "POST"])
def billing_profile(request: AuthedRequest, tenant_id: int) -> HttpResponse:
    """A customer organisation's own billing profile: owners edit, other members read."""
    tenant = tenant_for_user(request, tenant_id)
    membership = membership_of(request.user, tenant)
    can_edit = (
        request.user.has_perm("tenants.change_tenant")
        if is_staff_member(request.user)
        else membership is not None and customer_can(membership.role, "billing_profile.edit")
    )
    if request.method == "POST":
        tenant_for_user(
            request,
            tenant_id,
            staff_perm="tenants.change_tenant",
            capability="billing_profile.edit",
        )
    form = BillingProfileForm(request.POST or None, instance=tenant)
    if request.method == "POST" and form.is_valid():
        services.tenant_save(tenant=form.save(commit=False), actor=request.user)
        messages.success(request, "Your billing profile was saved. New invoices will use it.")
        return redirect("tenants:billing_profile", tenant_id=tenant.pk)
    return render(
        request,
        "tenants/billing_profile.html",
        {"tenant": tenant, "form": form, "can_edit": can_edit, "membership": membership},
    )


@login_required
def my_billing_profile(request: AuthedRequest) -> HttpResponse:
    membership = request.active_membership
    if not membership:
        raise Http404("You are not a member of any organisation.")
    return redirect("tenants:billing_profile", tenant_id=membership.tenant_id)


@login_required
@require_POST
def member_add(request: AuthedRequest, tenant_id: int) -> HttpResponse:
    tenant = tenant_for_user(request, tenant_id, staff_perm="tenants.manage_members")
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(request, f"{field.capitalize()}: {error}")
        return redirect("tenants:detail", tenant_id=tenant.pk)
    try:
        membership = services.membership_add(
            tenant=tenant,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            actor=request.user,
        )
    except ValidationError as error:
        _refuse(request, error)
    else:
        messages.success(
            request, f"{membership.user.email} is now {membership.get_role_display().lower()}."
        )
    return redirect("tenants:detail", tenant_id=tenant.pk)


def _membership_for(request: AuthedRequest, tenant_id: int, membership_id: int) -> Membership:
    tenant = tenant_for_user(request, tenant_id, staff_perm="tenants.manage_members")
    return get_object_or_404(
        Membership.objects.select_related("user"), pk=membership_id, tenant=tenant
    )


@login_required
@require_POST
def member_role(request: AuthedRequest, tenant_id: int, membership_id: int) -> HttpResponse:
    membership = _membership_for(request, tenant_id, membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose owner, admin or viewer.")
        return redirect("tenants:detail", tenant_id=tenant_id)
    try:
        services.membership_set_role(
            membership=membership, role=form.cleaned_data["role"], actor=request.user
        )
    except ValidationError as error:
        _refuse(request, error)
    else:
        messages.success(request, f"{membership.user} is now {form.cleaned_data['role']}.")
    return redirect("tenants:detail", tenant_id=tenant_id)


@login_required
@require_POST
def member_remove(request: AuthedRequest, tenant_id: int, membership_id: int) -> HttpResponse:
    membership = _membership_for(request, tenant_id, membership_id)
    try:
        services.membership_remove(membership=membership, actor=request.user)
    except ValidationError as error:
        _refuse(request, error)
    else:
        messages.success(request, f"{membership.user} was removed.")
    return redirect("tenants:detail", tenant_id=tenant_id)


def _set_status(
    request: AuthedRequest, tenant_id: int, *, status: str, form_class: type[StatusChangeForm]
) -> HttpResponse:
    tenant = tenant_for_user(request, tenant_id, staff_perm="tenants.suspend_tenant")
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason for suspending the tenant.")
        return redirect("tenants:detail", tenant_id=tenant.pk)
    try:
        tenant = services.tenant_set_status(
            tenant=tenant, status=status, reason=form.cleaned_data["reason"], actor=request.user
        )
    except ValidationError as error:
        _refuse(request, error)
    else:
        messages.success(
            request, f"{tenant.display_name} is {tenant.get_status_display().lower()}."
        )
    return redirect("tenants:detail", tenant_id=tenant.pk)


@login_required
@require_POST
def tenant_suspend(request: AuthedRequest, tenant_id: int) -> HttpResponse:
    return _set_status(request, tenant_id, status=Tenant.Status.SUSPENDED, form_class=SuspendForm)


@login_required
@require_POST
def tenant_reactivate(request: AuthedRequest, tenant_id: int) -> HttpResponse:
    return _set_status(request, tenant_id, status=Tenant.Status.ACTIVE, form_class=StatusChangeForm)


@login_required
@require_POST
def tenant_switch(request: AuthedRequest) -> HttpResponse:
    """Choose which of the user's organisations the pages show."""
    form = TenantSwitchForm(request.POST)
    if not form.is_valid():
        raise Http404("No such organisation.")
    membership = (
        Membership.objects.filter(user=request.user, tenant_id=form.cleaned_data["tenant"])
        .select_related("tenant")
        .first()
    )
    if membership is None:
        raise Http404("No such organisation.")
    request.session[ACTIVE_TENANT_SESSION_KEY] = membership.tenant_id
    messages.info(request, f"Now showing {membership.tenant.display_name}.")
    next_url = request.POST.get("next", "")
    if "/billing-profile/" in next_url:
        # The same page, for the organisation now chosen.
        return redirect("tenants:billing_profile", tenant_id=membership.tenant_id)
    safe = url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    # A page of one of the previous organisation's objects would 404 in the new one.
    if not safe or re.search(r"/\d+/", next_url):
        next_url = reverse("home")
    return redirect(next_url)


@login_required
@require_http_methods(["GET", "POST"])
def provider_settings(request: AuthedRequest) -> HttpResponse:
    require_staff_perm(request.user, "tenants.view_providerprofile")
    profile = services.provider_profile_get() or ProviderProfile()
    can_edit = request.user.has_perm("tenants.change_providerprofile")
    if request.method == "POST":
        require_staff_perm(request.user, "tenants.change_providerprofile")
    form = ProviderProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        services.provider_profile_save(profile=form.save(commit=False), actor=request.user)
        messages.success(request, "The provider details were saved. New invoices will use them.")
        return redirect("provider_settings")
    return render(request, "tenants/provider_settings.html", {"form": form, "can_edit": can_edit})


@login_required
def tenant_options(request: AuthedRequest) -> HttpResponse:
    """<option>s of every tenant, for filter dropdowns that load their list when opened."""
    require_staff_perm(request.user, "tenants.view_tenant")
    selected = request.GET.get("selected", "")
    tenants = Tenant.objects.order_by("display_name").values_list("pk", "display_name")
    return render(
        request,
        "tenants/options.html",
        {"tenants": tenants, "selected": int(selected) if selected.isdigit() else None},
    )
