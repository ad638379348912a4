"""The usage dashboard and its exports (CSV or XLSX of its records or of a monthly breakdown;
more than EXPORT_INLINE_MAX_ROWS rows run as an export job, whose page follows its progress).

Staff (with ``usage.view_usagerecord``) see every tenant or the one they pick, and export it with
``invoices.export_invoice`` as well; a customer sees and exports the organisation active in their
session and nothing else: naming any other tenant answers 404.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from billing_portal.lib.http import AuthedRequest
from exports.services import EXPORT_PERM, ExportRefused
from exports.shortcuts import export_response
from tenants.access import require_staff_perm, tenant_scope
from tenants.models import Tenant
from tenants.roles import is_staff_member
from usage import charts, selectors
from usage import exports as ex
from usage.filters import usage_filters, usage_scope, usage_tenant
from usage.selectors import IST

VIEW_PERM = "usage.view_usagerecord"
TOP_PER_METER = 5


def _viewer_scope(request: AuthedRequest) -> tuple[Tenant | None, bool]:
    """(the tenant to show or None for all, whether the user is staff), or 403 / 404."""
    user = request.user
    named = request.GET.get("tenant", "").strip()
    if is_staff_member(user):
        require_staff_perm(user, VIEW_PERM)
        return usage_tenant(user, named, own=None), True
    membership = request.active_membership  # a lazy object: test its truth, not its identity
    return usage_tenant(user, named, own=membership.tenant if membership else None), False


@login_required
@require_safe
def dashboard(request: AuthedRequest) -> HttpResponse:
    tenant, staff = _viewer_scope(request)
    form, meter_list = usage_filters(request.GET)
    now = timezone.now()
    today = now.astimezone(IST).date()
    scope = usage_scope(form, tenant, today)
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
        "can_export": not staff or request.user.has_perm(EXPORT_PERM),
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


@login_required
@require_safe
def export(request: AuthedRequest) -> HttpResponseBase:
    """/usage/export?format=csv|xlsx&kind=records|breakdown&<the dashboard's filters>."""
    tenant, staff = _viewer_scope(request)
    if staff:
        # As every export: staff need the export permission too (an export job checks it again).
        require_staff_perm(request.user, EXPORT_PERM)
    fmt = request.GET.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        return HttpResponseBadRequest("format is csv or xlsx.")
    kind = request.GET.get("kind", ex.RECORDS)
    if kind not in ex.KINDS:
        return HttpResponseBadRequest("kind is records or breakdown.")
    try:
        chosen = ex.usage_export(request.GET, kind=kind, tenant=tenant, today=timezone.localdate())
    except ExportRefused as error:
        return HttpResponseBadRequest(str(error))
    return export_response(
        request,
        chosen,
        kind=ex.JOB_KINDS[kind],
        fmt=fmt,
        tenant_id=tenant_scope(request),
        filename=chosen.filename(fmt),
    )
