"""The sandbox's pages: the checkout that stands in for Razorpay Checkout, and the console where
staff replay webhooks and settle refunds by hand."""

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from payments.sandbox import services
from payments.sandbox.after_response import after_response
from payments.sandbox.forms import CheckoutForm
from payments.sandbox.models import SandboxOrder, SandboxPayment, SandboxRefund, SandboxWebhookEvent
from payments.sandbox.services import SandboxError
from payments.sandbox.signing import payment_signature
from tenants.roles import is_staff_member


# --- Checkout ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckoutOptions:
    """Razorpay Checkout's options, passed in the query string."""

    key_id: str
    callback_url: str
    cancel_url: str
    name: str
    description: str
    prefill_email: str
    prefill_contact: str


def same_origin_or_path(url: str) -> bool:
    """A path on this site, or an address on SITE_URL's origin: checkout posts the payer's result
    only there, never to another site (no open redirect)."""
    if not url or any(ch in url for ch in "\\\r\n\t "):
        return False
    parts = urlsplit(url)
    if not parts.scheme and not parts.netloc:
        return url.startswith("/") and not url.startswith("//")
    site = urlsplit(settings.SITE_URL)
    return (parts.scheme.lower(), parts.netloc.lower()) == (site.scheme, site.netloc.lower())


def _options(request: HttpRequest) -> tuple[CheckoutOptions | None, str]:
    """The checkout options, or why they are refused."""
    q = request.GET
    options = CheckoutOptions(
        key_id=q.get("key_id", q.get("key", "")),
        callback_url=q.get("callback_url", ""),
        cancel_url=q.get("cancel_url", ""),
        name=q.get("name", "")[:100] or "Merchant",
        description=q.get("description", "")[:255],
        prefill_email=q.get("prefill_email", q.get("prefill[email]", "")),
        prefill_contact=q.get("prefill_contact", q.get("prefill[contact]", "")),
    )
    if options.key_id != settings.RAZORPAY_KEY_ID:
        return None, "The api key provided is invalid: key_id is missing or not this account's."
    if not options.callback_url:
        return None, "callback_url is required: checkout posts the payment's result to it."
    if not same_origin_or_path(options.callback_url):
        return None, (
            f"callback_url must be a path on this site or an address under {settings.SITE_URL}: "
            "the sandbox does not send payers to other sites."
        )
    if options.cancel_url and not same_origin_or_path(options.cancel_url):
        return None, (
            f"cancel_url must be a path on this site or an address under {settings.SITE_URL}."
        )
    return options, ""


def callback_fields(payment: SandboxPayment) -> dict[str, str]:
    """What Razorpay Checkout posts to the callback URL after an attempt."""
    if payment.status == SandboxPayment.Status.FAILED:
        return {
            "error[code]": payment.error_code or "",
            "error[description]": payment.error_description or "",
            "error[source]": payment.error_source or "",
            "error[step]": payment.error_step or "",
            "error[reason]": payment.error_reason or "",
            "error[metadata]": json.dumps({"payment_id": payment.id, "order_id": payment.order_id}),
        }
    return {
        "razorpay_payment_id": payment.id,
        "razorpay_order_id": payment.order_id,
        "razorpay_signature": payment_signature(
            order_id=payment.order_id,
            payment_id=payment.id,
            key_secret=settings.RAZORPAY_KEY_SECRET,
        ),
    }


def _refused(request: HttpRequest, problem: str, status: int = 400) -> HttpResponse:
    return render(request, "sandbox/refused.html", {"problem": problem}, status=status)


@require_http_methods(["GET", "POST"])
@after_response
def checkout(request: HttpRequest, order_id: str) -> HttpResponse:
    options, problem = _options(request)
    if options is None:
        return _refused(request, problem)
    order = SandboxOrder.objects.filter(pk=order_id).first()
    if order is None:
        return _refused(request, f"There is no order {order_id}.", status=404)
    context: dict[str, object] = {"order": order, "options": options}
    if order.status == SandboxOrder.Status.PAID:
        status = 409 if request.method == "POST" else 200
        return render(request, "sandbox/checkout.html", context, status=status)
    form = CheckoutForm(
        request.POST or None,
        initial={"email": options.prefill_email, "contact": options.prefill_contact},
    )
    if request.method == "POST" and form.is_valid():
        try:
            payment = services.payment_attempt(
                order_id=order.id,
                payer=form.payer(),
                failure=form.failure_choice(),
                description=options.description,
            )
        except SandboxError:
            order.refresh_from_db()  # paid in another tab meanwhile
            return render(request, "sandbox/checkout.html", context, status=409)
        return render(
            request,
            "sandbox/callback.html",
            {
                "payment": payment,
                "options": options,
                "order": order,
                "callback_fields": callback_fields(payment),
            },
        )
    context["form"] = form
    return render(request, "sandbox/checkout.html", context)


# --- Console -------------------------------------------------------------------------------------
def _require_console(user) -> None:
    """Platform staff only (Django staff, billing admins, finance); customers get 403."""
    if not (user.is_staff or is_staff_member(user)):
        raise PermissionDenied("The sandbox console is for platform staff.")


@login_required
def console(request: HttpRequest) -> HttpResponse:
    _require_console(request.user)
    return render(
        request,
        "sandbox/console.html",
        {
            "orders": SandboxOrder.objects.all()[:20],
            "payments": SandboxPayment.objects.all()[:20],
            "refunds": SandboxRefund.objects.all()[:20],
            "events": SandboxWebhookEvent.objects.all()[:40],
            "webhook_url": settings.RAZORPAY_SANDBOX_WEBHOOK_URL,
            "chaos": settings.RAZORPAY_SANDBOX_WEBHOOK_CHAOS,
            "refund_outcome": settings.RAZORPAY_SANDBOX_REFUND_OUTCOME,
        },
    )


@login_required
@require_POST
def console_redeliver(request: HttpRequest, event_id: str) -> HttpResponse:
    _require_console(request.user)
    before = SandboxWebhookEvent.objects.filter(pk=event_id).first()
    if before is None:
        return _refused(request, f"There is no event {event_id}.", status=404)
    services.webhook_redeliver(event_id=event_id)
    after = SandboxWebhookEvent.objects.get(pk=event_id)
    if after.deliveries == before.deliveries:
        messages.info(request, f"{event_id} ({after.event}) is queued for redelivery.")
    elif after.delivered_ok:
        messages.success(
            request, f"{event_id} ({after.event}) redelivered: HTTP {after.last_status}."
        )
    else:
        messages.error(
            request, f"{event_id} ({after.event}) redelivered and refused: {after.last_error}"
        )
    return redirect("sandbox:console")


@login_required
@require_POST
def console_settle(request: HttpRequest, refund_id: str) -> HttpResponse:
    _require_console(request.user)
    outcome = request.POST.get("outcome", "")
    if outcome not in ("processed", "failed"):
        return _refused(request, "Settle a refund as processed or failed.")
    try:
        refund = services.settle_refund(refund_id, outcome)
    except SandboxError:
        return _refused(request, f"There is no refund {refund_id}.", status=404)
    messages.success(request, f"{refund.id} is {refund.status}.")
    return redirect("sandbox:console")
