from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.functional import cached_property
from django.views.decorators.http import require_http_methods, require_POST

from billing_portal.lib.http import AuthedRequest, wants_fragment
from invoices import export_views, services
from invoices import forms as f
from invoices.lifecycle import (
    ACTION_LABELS,
    InvoiceActionError,
    action_permitted,
    available_actions,
    status_refusal,
)
from invoices.models import Invoice
from invoices.selectors import (
    invoice_for_sheet,
    invoice_listing,
    invoice_summary,
    invoices_for,
)
from payments import services as payment_services
from payments import views as payment_views
from payments.models import Payment
from tenants.access import require_staff_perm, tenant_scope
from tenants.roles import is_staff_member

S = Invoice.Status
PAGE_SIZES = (25, 50, 100)


class CountedPaginator(Paginator):
    """A paginator told its count (the summary query has it), saving a COUNT(*) per page."""

    def __init__(self, object_list: Any, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


@login_required
def invoice_list(request: AuthedRequest) -> HttpResponse:
    listing = invoice_listing(
        request.user, request.GET, tenant_id=tenant_scope(request), today=services.today()
    )
    staff, filterset, statuses, sort = (
        listing.staff,
        listing.filterset,
        listing.statuses,
        listing.sort,
    )
    chosen_tenant = (
        filterset.form.cleaned_data.get("tenant") if staff and filterset.is_bound else None
    )
    summary = invoice_summary(listing.filtered, statuses)
    rows = listing.rows.select_related("tenant")
    try:
        size = int(request.GET.get("size", PAGE_SIZES[0]))
    except ValueError:
        size = PAGE_SIZES[0]
    size = size if size in PAGE_SIZES else PAGE_SIZES[0]
    page = CountedPaginator(rows, size, count=summary.count).get_page(request.GET.get("page"))
    context = {
        "filter": filterset,
        "page": page,
        "summary": summary,
        "statuses": statuses,
        "chosen_tenant": chosen_tenant,
        "status_choices": S.choices
        if staff
        else [c for c in S.choices if c[0] != S.DRAFT and c[0] != S.PENDING],
        "sort": sort,
        "size": size,
        "page_sizes": PAGE_SIZES,
        "staff": staff,
        "can_create": request.user.has_perm("invoices.add_invoice"),
        "can_export": not staff or request.user.has_perm("invoices.export_invoice"),
        "can_bulk": staff
        and (
            request.user.has_perm("invoices.send_invoice")
            or request.user.has_perm("invoices.export_invoice")
        ),
    }
    template = (
        "invoices/list.html#invoice-results" if wants_fragment(request) else "invoices/list.html"
    )
    response = render(request, template, context)
    # The same URL answers a fragment or the page: caches must key on the htmx header.
    patch_vary_headers(response, ["HX-Request"])
    return response


def _invoice_for(request: AuthedRequest, invoice_id: int) -> Invoice:
    try:
        return invoice_for_sheet(invoices_for(request.user)).get(pk=invoice_id)
    except Invoice.DoesNotExist:
        raise Http404("No such invoice.") from None


ACTION_FORMS: dict[str, Callable[..., Any]] = {
    "send": f.SendForm,
    "void": f.ReasonForm,
    "regenerate": f.ReasonForm,
    "record_payment": f.PaymentForm,
    "refund": f.RefundForm,
    "dispute": f.DisputeForm,
    "resolve_dispute": f.ResolveForm,
    "pay": f.PayForm,
}


def _action_form(action: str, invoice: Invoice, data: Any = None) -> Any:
    form_class = ACTION_FORMS[action]
    # One page holds every action's form: a prefix keeps their field ids apart.
    kwargs: dict[str, Any] = {"prefix": action}
    if action in ("refund", "pay"):
        kwargs["invoice"] = invoice
    if action == "pay" and data is None:
        kwargs["initial"] = {"amount": invoice.balance_due}
    if action == "record_payment" and data is None:
        kwargs["initial"] = {"amount": invoice.balance_due, "received_on": services.today()}
    if action == "refund" and data is None:
        kwargs["initial"] = {"amount": invoice.refundable}
    return form_class(data, **kwargs)


def _render_detail(
    request: AuthedRequest,
    invoice: Invoice,
    *,
    bound: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    actions = available_actions(invoice, request.user)
    action_forms = {
        action: (bound or {}).get(action) or _action_form(action, invoice)
        for action in actions
        if action in ACTION_FORMS
    }
    context = {
        "invoice": invoice,
        "payment_result": _payment_result(request, invoice),
        "open_attempts": any(
            p.method == Payment.Method.RAZORPAY and p.status in payment_services.GATEWAY_OPEN
            for p in invoice.payments.all()
        )
        or any(r.status == r.Status.PENDING for r in invoice.refunds.all()),
        "actions": actions,
        "action_forms": action_forms,
        "open_form": next(iter(bound or {}), ""),
        "labels": ACTION_LABELS,
        "staff": is_staff_member(request.user),
        "open_dispute": next((d for d in invoice.disputes.all() if d.resolved_at is None), None),
    }
    sheet = request.htmx and request.GET.get("sheet")
    template = "invoices/detail.html#invoice-sheet" if sheet else "invoices/detail.html"
    return render(request, template, context, status=status)


def _payment_result(request: AuthedRequest, invoice: Invoice) -> Payment | None:
    """The attempt the payer is back from (``?payment=``), to say how it went."""
    raw = request.GET.get("payment", "")
    if not raw.isdigit():
        return None
    return next((p for p in invoice.payments.all() if p.pk == int(raw)), None)


@login_required
def invoice_detail(request: AuthedRequest, invoice_id: int) -> HttpResponse:
    return _render_detail(request, _invoice_for(request, invoice_id))


def _run_action(invoice: Invoice, action: str, user: Any, data: dict[str, Any]) -> str:
    """Call the service for ``action``; return the success message."""
    if action == "finalize":
        invoice = services.invoice_finalize(invoice=invoice, actor=user)
        return f"Finalized as {invoice.number}."
    if action == "approve":
        services.invoice_approve(invoice=invoice, actor=user)
        return "Approved."
    if action == "send":
        invoice = services.invoice_send(invoice=invoice, actor=user, recipient=data["recipient"])
        return f"{invoice.number} was sent to {invoice.sent_to}."
    if action == "remind":
        email = services.invoice_remind(invoice=invoice, actor=user)
        return (
            f"A reminder is on its way to {', '.join(email.to)}." if email else "Reminder queued."
        )
    if action == "void":
        services.invoice_void(invoice=invoice, actor=user, reason=data["reason"])
        return f"{invoice.display_number} was voided."
    if action == "regenerate":
        draft = services.invoice_regenerate(invoice=invoice, actor=user, reason=data["reason"])
        return f"{invoice.display_number} was voided; draft #{draft.pk} replaces it."
    if action == "record_payment":
        payment = payment_services.payment_record_manual(invoice=invoice, actor=user, **data)
        return f"Payment of ₹{payment.amount} recorded."
    if action == "refund":
        if data["payment"].method == Payment.Method.RAZORPAY:
            refund = payment_services.refund_through_gateway(invoice=invoice, actor=user, **data)
            if refund.status == refund.Status.PROCESSED:
                return f"Refund of ₹{refund.amount} processed by Razorpay."
            return f"Refund of ₹{refund.amount} sent to Razorpay: pending until it is processed."
        refund = payment_services.refund_record(invoice=invoice, actor=user, **data)
        return f"Refund of ₹{refund.amount} recorded."
    if action == "dispute":
        services.dispute_open(invoice=invoice, actor=user, reason=data["reason"])
        return "Thank you: the billing team has the problem you reported and will reply."
    if action == "resolve_dispute":
        services.dispute_resolve(invoice=invoice, actor=user, resolution=data["resolution"])
        return "The dispute is resolved."
    raise Http404(action)


@login_required
@require_POST
def invoice_action(request: AuthedRequest, invoice_id: int, action: str) -> HttpResponse:
    invoice = _invoice_for(request, invoice_id)
    if not action_permitted(invoice, request.user, action):
        raise PermissionDenied(f"Your role cannot {ACTION_LABELS[action].lower()}.")
    refusal = status_refusal(invoice, action)
    if refusal:
        # Say why the invoice cannot take the action, not what is wrong with a form it no longer
        # shows (it changed since the page was loaded, or the POST was forged).
        messages.error(request, refusal)
        return redirect("invoices:detail", invoice_id=invoice.pk)
    data: dict[str, Any] = {}
    if action in ACTION_FORMS:
        form = _action_form(action, invoice, request.POST)
        if not form.is_valid():
            messages.error(request, "Nothing was changed: correct the form below.")
            return _render_detail(request, invoice, bound={action: form}, status=400)
        data = {k: v for k, v in form.cleaned_data.items() if k != "confirm"}
    if action == "pay":
        # Leaves for the gateway's checkout, not back to the sheet.
        return payment_views.checkout_start(request, invoice, data["amount"])
    try:
        message = _run_action(invoice, action, request.user, data)
    except InvoiceActionError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, message)
    return redirect("invoices:detail", invoice_id=invoice.pk)


@login_required
@require_http_methods(["GET", "POST"])
def invoice_create(request: AuthedRequest) -> HttpResponse:
    require_staff_perm(request.user, "invoices.add_invoice")
    header = f.InvoiceHeaderForm(
        request.POST or None, initial={"tenant": request.GET.get("tenant")}
    )
    lines = f.LineFormSet(request.POST or None, prefix="lines")
    if request.method == "POST" and header.is_valid() and lines.is_valid():
        data = header.cleaned_data
        try:
            invoice = services.invoice_create(
                tenant=data["tenant"],
                lines=lines.lines(),  # type: ignore[attr-defined]
                actor=request.user,
                kind=Invoice.Kind.ONE_TIME,
                discount=data["discount"],
                due_date=data["due_date"],
                notes=data["notes"],
            )
        except InvoiceActionError as error:
            header.add_error(None, error)
        else:
            messages.success(
                request, f"Draft #{invoice.pk} created. Finalize it to issue a number."
            )
            return redirect("invoices:detail", invoice_id=invoice.pk)
    return render(
        request, "invoices/form.html", {"header": header, "lines": lines, "invoice": None}
    )


@login_required
@require_http_methods(["GET", "POST"])
def invoice_edit(request: AuthedRequest, invoice_id: int) -> HttpResponse:
    invoice = _invoice_for(request, invoice_id)
    if not action_permitted(invoice, request.user, "edit"):
        raise PermissionDenied("Your role cannot edit invoices.")
    if invoice.status != S.DRAFT:
        messages.error(
            request, "Only a draft can be edited: void and regenerate an issued invoice."
        )
        return redirect("invoices:detail", invoice_id=invoice.pk)
    initial = {"due_date": invoice.due_date, "discount": invoice.discount, "notes": invoice.notes}
    header = f.InvoiceHeaderForm(request.POST or None, initial=initial, editing=True)
    lines = f.LineFormSet(request.POST or None, prefix="lines", initial=f.line_initial(invoice))
    if request.method == "POST" and header.is_valid() and lines.is_valid():
        data = header.cleaned_data
        try:
            services.invoice_update_draft(
                invoice=invoice,
                lines=lines.lines(),  # type: ignore[attr-defined]
                actor=request.user,
                discount=data["discount"],
                due_date=data["due_date"],
                notes=data["notes"],
            )
        except InvoiceActionError as error:
            header.add_error(None, error)
        else:
            messages.success(request, "The draft was saved.")
            return redirect("invoices:detail", invoice_id=invoice.pk)
    return render(
        request, "invoices/form.html", {"header": header, "lines": lines, "invoice": invoice}
    )


BULK_ACTIONS = {"send": "send", "void": "void"}


@login_required
@require_POST
def invoice_bulk(request: AuthedRequest) -> HttpResponseBase:
    if not is_staff_member(request.user):
        raise PermissionDenied("Bulk actions are for the billing team.")
    form = f.BulkForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        messages.error(request, f"Nothing was done: {errors}")
        return redirect(request.POST.get("next") or reverse("invoices:list"))
    action, ids = form.cleaned_data["action"], form.cleaned_data["ids"]
    visible = {
        i.pk: i for i in invoices_for(request.user).filter(pk__in=ids).select_related("tenant")
    }
    if action in ("export_csv", "export_xlsx"):
        require_staff_perm(request.user, "invoices.export_invoice")
        return export_views.selected_export(request, ids, action.removeprefix("export_"))
    if action == "download_pdfs":
        return export_views.invoice_pdfs_zip(request, ids)
    perm = {"send": "invoices.send_invoice", "void": "invoices.void_invoice"}[action]
    require_staff_perm(request.user, perm)
    results = []
    for invoice_id in ids:
        invoice = visible.get(invoice_id)
        if invoice is None:
            results.append((f"#{invoice_id}", False, "Not found."))
            continue
        try:
            if action == "send":
                services.invoice_send(invoice=invoice, actor=request.user)
            else:
                services.invoice_void(
                    invoice=invoice, actor=request.user, reason=form.cleaned_data["reason"]
                )
        except InvoiceActionError as error:
            results.append((invoice.display_number, False, " ".join(error.messages)))
        else:
            invoice.refresh_from_db(fields=["number"])
            results.append(
                (invoice.display_number, True, "Sent." if action == "send" else "Voided.")
            )
    done = sum(1 for _, ok, _ in results if ok)
    context = {"results": results, "action": action, "done": done, "skipped": len(results) - done}
    template = (
        "invoices/bulk_result.html#bulk-result" if request.htmx else "invoices/bulk_result.html"
    )
    response = render(request, template, context)
    response["HX-Trigger"] = "invoices-changed"  # the list refreshes its rows and counts
    return response
