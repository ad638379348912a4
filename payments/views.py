"""Pay Now's trip through the gateway: out to the checkout, back by the callback, and the
gateway's own word by webhook. Refresh asks the gateway about an invoice's open attempts at once."""

import logging
from decimal import Decimal
from typing import cast
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing_portal.lib.http import AuthedRequest
from invoices.lifecycle import InvoiceActionError
from invoices.models import Invoice
from invoices.selectors import invoices_for
from payments import gateway, services
from payments.models import Payment
from tenants.models import ProviderProfile

log = logging.getLogger(__name__)

CALLBACK_SALT = "payments.razorpay.callback"
CALLBACK_MAX_AGE = 3 * 24 * 3600  # a checkout left open over a weekend still comes back

# Razorpay Checkout runs its script from checkout.razorpay.com and its frames and calls from
# api.razorpay.com: allowed on the pay page only, every other page keeps the strict policy.
CHECKOUT_CSP: dict[str, list[str]] = {
    **cast(dict[str, list[str]], settings.SECURE_CSP),
    "script-src": [CSP.SELF, CSP.NONCE, "https://checkout.razorpay.com"],
    "frame-src": ["https://api.razorpay.com", "https://checkout.razorpay.com"],
    "connect-src": [CSP.SELF, "https://api.razorpay.com", "https://lumberjack.razorpay.com"],
    "img-src": [CSP.SELF, "data:", "https://cdn.razorpay.com"],
    "form-action": [CSP.SELF, "https://api.razorpay.com"],
}


def _callback_url(request: HttpRequest, payment: Payment) -> str:
    token = signing.dumps(payment.pk, salt=CALLBACK_SALT)
    path = f"{reverse('payments:razorpay_callback')}?{urlencode({'attempt': token})}"
    return f"{settings.SITE_URL}{path}"


def checkout_start(request: AuthedRequest, invoice: Invoice, amount: Decimal) -> HttpResponse:
    """Create the order and its Payment, then send the payer to the checkout."""
    try:
        payment = services.pay_now_start(invoice=invoice, amount=amount, actor=request.user)
    except (InvoiceActionError, gateway.GatewayFailure) as error:
        text = " ".join(error.messages) if isinstance(error, InvoiceActionError) else str(error)
        messages.error(request, text)
        return redirect("invoices:detail", invoice_id=invoice.pk)
    provider = ProviderProfile.objects.first()
    merchant = provider.legal_name if provider else "Billing"
    options = {
        "key_id": settings.RAZORPAY_KEY_ID,
        "order_id": payment.gateway_order_id or "",
        "amount": str(gateway.to_paise(payment.amount)),
        "currency": payment.currency,
        "name": merchant,
        "description": f"Invoice {invoice.number}",
        "callback_url": _callback_url(request, payment),
        "cancel_url": f"{settings.SITE_URL}{reverse('invoices:detail', args=[invoice.pk])}",
        "prefill_email": request.user.email or invoice.tenant.billing_email,
    }
    if settings.RAZORPAY_MODE == "sandbox":
        query = urlencode({k: v for k, v in options.items() if k not in ("order_id", "amount")})
        return redirect(f"/sandbox/razorpay/checkout/{payment.gateway_order_id}/?{query}")
    return _live_checkout(request, invoice, payment, options)


@csp_override(CHECKOUT_CSP)
def _live_checkout(
    request: AuthedRequest, invoice: Invoice, payment: Payment, options: dict[str, str]
) -> HttpResponse:
    return render(
        request,
        "payments/checkout.html",
        {"invoice": invoice, "payment": payment, "options": options},
    )


@csrf_exempt  # Razorpay posts here from its own pages (and without our cookies)
@require_POST
def razorpay_callback(request: HttpRequest) -> HttpResponse:
    """The payer's browser, back from the checkout. It carries no session we can count on: the
    attempt is named by a signed token in the URL, and only the gateway's word changes anything."""
    try:
        payment_pk = signing.loads(
            request.GET.get("attempt", ""), salt=CALLBACK_SALT, max_age=CALLBACK_MAX_AGE
        )
    except signing.BadSignature:
        return _callback_refused(request, "This payment link is not valid or has expired.")
    payment = get_object_or_404(Payment, pk=payment_pk, method=Payment.Method.RAZORPAY)
    try:
        payment = services.callback_handle(payment=payment, data=request.POST.dict())
    except services.CallbackError as error:
        log.warning("razorpay callback for payment %s refused: %s", payment.pk, error)
        return _callback_refused(request, f"{error} Nothing was recorded.", payment.invoice_id)
    except gateway.GatewayFailure as error:
        # The payment stays as it was (Processing); the webhook or the reconciliation settles it.
        log.warning("razorpay callback for payment %s: %s", payment.pk, error)
    detail = reverse("invoices:detail", args=[payment.invoice_id])
    return redirect(f"{detail}?{urlencode({'payment': payment.pk})}")


def _callback_refused(
    request: HttpRequest, reason: str, invoice_id: int | None = None
) -> HttpResponse:
    return render(
        request,
        "payments/callback_refused.html",
        {"reason": reason, "invoice_id": invoice_id},
        status=400,
    )


@csrf_exempt  # signed with the webhook secret instead
@require_POST
def razorpay_webhook(request: HttpRequest) -> HttpResponse:
    """Store the event (once per event id) and answer at once; it is handled after commit."""
    try:
        event = services.webhook_receive(
            body=request.body,
            signature=request.headers.get("X-Razorpay-Signature"),
            event_id=request.headers.get("X-Razorpay-Event-Id"),
        )
    except services.WebhookRefused as error:
        log.warning("razorpay webhook refused: %s", error)
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse({"status": "received", "event": event.event_id})


@login_required
@require_POST
def invoice_refresh(request: AuthedRequest, invoice_id: int) -> HttpResponse:
    """Refresh: the customer's and staff's way to settle an attempt now, not at the next sweep."""
    invoice = get_object_or_404(invoices_for(request.user), pk=invoice_id)
    changed, problems = services.invoice_refresh_payments(invoice=invoice)
    if problems:
        messages.error(request, problems[0])
    elif changed:
        messages.success(request, "Updated from Razorpay.")
    else:
        messages.info(request, "Razorpay has nothing new about this invoice's payments yet.")
    return redirect("invoices:detail", invoice_id=invoice.pk)
