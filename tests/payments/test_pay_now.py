"""Pay Now end to end inside the test's transaction: our pages, the real ``razorpay`` SDK, the
sandbox's checkout, its signed callback and its signed webhooks (to our real receiver)."""

import datetime
import hashlib
import hmac
import json
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from invoices.models import Invoice, InvoiceEvent, OutboundEmail
from payments import services
from payments.models import Payment, Refund, WebhookEvent
from payments.sandbox.models import SandboxWebhookEvent
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

S = Invoice.Status
D = Decimal
UPI = {
    "method": "upi",
    "vpa": "asha@okhdfc",
    "email": "payer@acme.example",
    "contact": "9876543210",
}


@pytest.fixture
def gateway(settings, inprocess_http, django_capture_on_commit_callbacks):
    """The sandbox delivering each webhook twice and in reverse order to our real receiver."""
    settings.RAZORPAY_SANDBOX_WEBHOOK_URL = f"{settings.SITE_URL}/payments/razorpay/webhook"
    settings.RAZORPAY_SANDBOX_WEBHOOK_CHAOS = True
    settings.RAZORPAY_SANDBOX_REFUND_OUTCOME = "processed"
    return inprocess_http


@pytest.fixture
def sent(make_invoice):
    return make_invoice(S.SENT)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def start(client, invoice, amount) -> str:
    """Pay Now on the sheet; returns where it sends the payer (the sandbox's checkout)."""
    response = client.post(reverse("invoices:pay", args=[invoice.pk]), {"pay-amount": str(amount)})
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def checkout(client, location, capture, *, action="pay", failure="", deliver=True):
    """The payer in the sandbox's checkout; returns (callback path, posted fields)."""
    data = {**UPI, "action": action, **({"failure": failure} if failure else {})}
    if deliver:
        with capture(execute=True):
            response = client.post(location, data)
    else:
        response = client.post(location, data)
    assert response.status_code == 200, response.content[:500]
    return path_of(response.context["options"].callback_url), response.context["callback_fields"]


def pay_in_full(client, invoice, capture, amount=None, **kw):
    location = start(client, invoice, amount or invoice.balance_due)
    callback, fields = checkout(client, location, capture, **kw)
    return client.post(callback, fields), fields


def test_an_owner_pays_the_balance_and_the_invoice_is_paid_once(
    sent, owner, gateway, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    response, fields = pay_in_full(client, sent, django_capture_on_commit_callbacks)

    payment = Payment.objects.get(invoice=sent)
    assert response.status_code == 302
    assert response["Location"] == f"/invoices/{sent.pk}/?payment={payment.pk}"
    sent.refresh_from_db()
    assert (sent.status, sent.amount_paid, sent.balance_due) == (S.PAID, sent.total, D("0.00"))
    assert (payment.status, payment.amount, payment.gateway_method) == (
        "captured",
        sent.total,
        "upi",
    )
    assert payment.gateway_payment_id == fields["razorpay_payment_id"]
    assert payment.applied_at is not None
    assert not payment.review_reason
    # Six deliveries (three events, twice each, newest first) and the callback: applied once.
    assert SandboxWebhookEvent.objects.count() == 3
    assert sorted(WebhookEvent.objects.values_list("event", "deliveries")) == [
        ("order.paid", 2),
        ("payment.authorized", 2),
        ("payment.captured", 2),
    ]
    assert not WebhookEvent.objects.filter(processed_at=None).exists()
    assert sent.events.filter(type=InvoiceEvent.Type.PAYMENT).count() == 1
    receipts = sent.emails.filter(kind=OutboundEmail.Kind.RECEIPT)
    assert [r.to for r in receipts] == [[sent.tenant.billing_email]]
    page = client.get(response["Location"]).content.decode()
    assert "Payment received." in page
    assert fields["razorpay_payment_id"] in page


def test_a_part_payment_leaves_the_rest_due(
    sent, member_admin, gateway, django_capture_on_commit_callbacks
):
    client = client_for(member_admin)
    pay_in_full(client, sent, django_capture_on_commit_callbacks, amount=D("100.00"))
    sent.refresh_from_db()
    assert (sent.status, sent.amount_paid, sent.balance_due) == (
        S.PARTIALLY_PAID,
        D("100.00"),
        sent.total - D("100.00"),
    )
    # And the rest, later: the same path to paid.
    pay_in_full(client, sent, django_capture_on_commit_callbacks)
    sent.refresh_from_db()
    assert (sent.status, sent.balance_due) == (S.PAID, D("0.00"))
    assert Payment.objects.filter(invoice=sent, status="captured").count() == 2


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0.50", "greater than or equal to 1"),
        ("999999", "At most the balance due"),
        ("abc", "number"),
    ],
)
def test_a_bad_amount_is_refused_and_no_order_is_made(sent, owner, gateway, amount, message):
    client = client_for(owner)
    response = client.post(reverse("invoices:pay", args=[sent.pk]), {"pay-amount": amount})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Payment.objects.exists()
    assert gateway.exchanges == []


def test_a_viewer_cannot_pay_and_another_tenant_cannot_see(sent, viewer, other_owner, gateway):
    assert (
        client_for(viewer)
        .post(reverse("invoices:pay", args=[sent.pk]), {"pay-amount": "1"})
        .status_code
        == 403
    )
    assert (
        client_for(other_owner)
        .post(reverse("invoices:pay", args=[sent.pk]), {"pay-amount": "1"})
        .status_code
        == 404
    )
    assert not Payment.objects.exists()


def test_staff_do_not_pay_for_customers(sent, billing_admin, gateway):
    response = client_for(billing_admin).post(
        reverse("invoices:pay", args=[sent.pk]), {"pay-amount": "1"}
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("status", "answer"),
    # Customers never see a draft or a pending invoice at all.
    [(S.DRAFT, 404), (S.PENDING, 404), (S.PAID, 302), (S.VOIDED, 302), (S.REFUNDED, 302)],
)
def test_only_an_invoice_with_money_due_can_be_paid(make_invoice, owner, gateway, status, answer):
    invoice = make_invoice(status)
    client = client_for(owner)
    response = client.post(reverse("invoices:pay", args=[invoice.pk]), {"pay-amount": "1"})
    assert response.status_code == answer
    assert not Payment.objects.filter(method=Payment.Method.RAZORPAY).exists()
    assert gateway.exchanges == []
    if answer == 302:
        page = client.get(response["Location"]).content.decode()
        assert "invoice cannot be given “pay now”" in page
        assert f'action="/invoices/{invoice.pk}/pay/"' not in page


def test_a_failed_payment_shows_its_reason_and_can_be_tried_again(
    sent, owner, gateway, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    response, _ = pay_in_full(
        client,
        sent,
        django_capture_on_commit_callbacks,
        action="fail",
        failure="insufficient_funds",
    )
    failed = Payment.objects.get(invoice=sent)
    assert failed.status == "failed"
    assert failed.failure_reason
    page = client.get(response["Location"]).content.decode()
    assert "Payment failed:" in page
    assert failed.failure_reason in page
    sent.refresh_from_db()
    assert (sent.status, sent.amount_paid) == (S.SENT, D("0.00"))
    assert sent.events.filter(type=InvoiceEvent.Type.PAYMENT_FAILED).count() == 1

    pay_in_full(client, sent, django_capture_on_commit_callbacks)
    sent.refresh_from_db()
    assert sent.status == S.PAID
    assert list(
        Payment.objects.filter(invoice=sent).order_by("pk").values_list("status", flat=True)
    ) == [
        "failed",
        "captured",
    ]


# --- the callback cannot be forged ---------------------------------------------------------------


def test_a_callback_with_a_flipped_signature_byte_changes_nothing(
    sent, owner, gateway, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    callback, fields = checkout(client, start(client, sent, sent.balance_due), None, deliver=False)
    signature = fields["razorpay_signature"]
    fields["razorpay_signature"] = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    response = client.post(callback, fields)
    assert response.status_code == 400
    assert "could not be verified" in response.content.decode()
    sent.refresh_from_db()
    assert (sent.status, sent.amount_paid) == (S.SENT, D("0.00"))
    assert Payment.objects.get(invoice=sent).status == "created"


def test_a_signature_for_another_order_is_checked_against_ours(
    make_invoice, sent, owner, gateway, django_capture_on_commit_callbacks
):
    """The payer pays ₹1 on a second order and posts its (valid) fields to the first one's
    callback: the signature is checked against the order id we stored, so it fails."""
    client = client_for(owner)
    big_callback, _ = checkout(client, start(client, sent, sent.balance_due), None, deliver=False)
    other = make_invoice(S.SENT)
    _, cheap_fields = checkout(client, start(client, other, D("1.00")), None, deliver=False)
    response = client.post(big_callback, cheap_fields)
    assert response.status_code == 400
    sent.refresh_from_db()
    assert sent.amount_paid == D("0.00")


def test_a_callback_without_its_signed_attempt_token_is_refused(owner, gateway, client):
    response = client.post(
        "/payments/razorpay/callback?attempt=1", {"razorpay_payment_id": "pay_x"}
    )
    assert response.status_code == 400
    assert not Payment.objects.exists()


# --- webhooks: signature, once per event id, any order --------------------------------------------


def signed(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_hook(client, body: bytes, signature: str | None, event_id="evt_test000000001"):
    headers = {"HTTP_X_RAZORPAY_EVENT_ID": event_id}
    if signature is not None:
        headers["HTTP_X_RAZORPAY_SIGNATURE"] = signature
    return client.post(
        "/payments/razorpay/webhook", data=body, content_type="application/json", **headers
    )


def event_body(
    payment: Payment, event: str, *, status="captured", amount=None, payment_id="pay_HOOK0000000001"
) -> bytes:
    entity = {
        "id": payment_id,
        "entity": "payment",
        "amount": int((amount or payment.amount) * 100),
        "currency": "INR",
        "status": status,
        "order_id": payment.gateway_order_id,
        "method": "upi",
        "error_description": "Payment failed because of a bank error"
        if status == "failed"
        else None,
    }
    return json.dumps(
        {
            "entity": "event",
            "event": event,
            "contains": ["payment"],
            "payload": {"payment": {"entity": entity}},
        }
    ).encode()


@pytest.fixture
def started(sent, owner, gateway):
    """A Pay Now order for the whole balance, the payer still in the checkout."""
    client = client_for(owner)
    start(client, sent, sent.balance_due)
    return Payment.objects.get(invoice=sent)


@pytest.mark.parametrize(
    "forge",
    ["flipped byte", "re-serialised JSON", "key secret", "missing header"],
)
def test_a_webhook_that_is_not_signed_by_the_webhook_secret_is_refused_and_stored_nowhere(
    started, settings, client, forge, django_capture_on_commit_callbacks
):
    body = event_body(started, "payment.captured")
    good = signed(body, settings.RAZORPAY_WEBHOOK_SECRET)
    if forge == "flipped byte":
        sent_body, signature = body.replace(b'"upi"', b'"upj"'), good
    elif forge == "re-serialised JSON":
        sent_body, signature = json.dumps(json.loads(body), indent=1).encode(), good
    elif forge == "key secret":
        sent_body, signature = body, signed(body, settings.RAZORPAY_KEY_SECRET)
    else:
        sent_body, signature = body, None
    with django_capture_on_commit_callbacks(execute=True):
        response = post_hook(client, sent_body, signature)
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
    started.refresh_from_db()
    assert (started.status, started.applied_at) == ("created", None)


def test_captured_before_authorized_and_failed_then_captured_end_captured(
    started, settings, client, django_capture_on_commit_callbacks
):
    secret = settings.RAZORPAY_WEBHOOK_SECRET
    sequence = [
        (
            "evt_1",
            event_body(
                started, "payment.failed", status="failed", payment_id="pay_FIRST0000000001"
            ),
        ),
        ("evt_2", event_body(started, "payment.captured")),
        ("evt_3", event_body(started, "payment.authorized", status="authorized")),
        (
            "evt_4",
            event_body(
                started, "payment.failed", status="failed", payment_id="pay_FIRST0000000001"
            ),
        ),
    ]
    for event_id, body in sequence:
        with django_capture_on_commit_callbacks(execute=True):
            assert post_hook(client, body, signed(body, secret), event_id).status_code == 200
    started.refresh_from_db()
    assert (started.status, started.gateway_payment_id) == ("captured", "pay_HOOK0000000001")
    started.invoice.refresh_from_db()
    assert (started.invoice.status, started.invoice.amount_paid) == (S.PAID, started.amount)
    assert started.invoice.events.filter(type=InvoiceEvent.Type.PAYMENT).count() == 1


def test_a_captured_amount_that_does_not_match_the_order_is_held_for_admins(
    started, settings, client, billing_admin, django_capture_on_commit_callbacks
):
    body = event_body(started, "payment.captured", amount=started.amount - 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            post_hook(client, body, signed(body, settings.RAZORPAY_WEBHOOK_SECRET)).status_code
            == 200
        )
    started.refresh_from_db()
    assert started.status == "captured"
    assert started.applied_at is None
    assert "order was for" in started.review_reason
    invoice = started.invoice
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (S.SENT, D("0.00"))
    notice = invoice.emails.get(kind=OutboundEmail.Kind.PAYMENT_REVIEW)
    assert notice.to == [billing_admin.email]


def test_an_event_for_an_order_that_is_not_ours_is_stored_and_ignored(
    started, settings, client, django_capture_on_commit_callbacks
):
    started.gateway_order_id = "order_NOTOURS0000001"
    body = event_body(started, "payment.captured")
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            post_hook(client, body, signed(body, settings.RAZORPAY_WEBHOOK_SECRET)).status_code
            == 200
        )
    assert WebhookEvent.objects.get().outcome == "order order_NOTOURS0000001 is not one of ours"
    assert not Invoice.objects.filter(status=S.PAID).exists()


# --- reconciliation and Refresh -------------------------------------------------------------------


def test_a_payment_whose_callback_and_webhooks_were_lost_is_found_by_reconciliation(
    sent, owner, gateway, settings
):
    client = client_for(owner)
    settings.RAZORPAY_SANDBOX_WEBHOOK_URL = f"{settings.SITE_URL}/nowhere"
    gateway.stub(settings.RAZORPAY_SANDBOX_WEBHOOK_URL, status=500)
    checkout(
        client, start(client, sent, sent.balance_due), None, deliver=False
    )  # then closed the tab
    payment = Payment.objects.get(invoice=sent)
    assert services.reconcile()["payments"] == 0, "younger than 15 minutes: left alone"
    later = timezone.now() + datetime.timedelta(minutes=16)
    assert services.reconcile(now=later)["changed"] == 1
    payment.refresh_from_db()
    sent.refresh_from_db()
    assert (payment.status, sent.status) == ("captured", S.PAID)


def test_refresh_settles_the_invoices_open_attempt_at_once(sent, owner, gateway, settings):
    client = client_for(owner)
    gateway.stub(settings.RAZORPAY_SANDBOX_WEBHOOK_URL, status=500)
    checkout(client, start(client, sent, sent.balance_due), None, deliver=False)
    page = client.get(reverse("invoices:detail", args=[sent.pk])).content.decode()
    assert "Refresh from Razorpay" in page
    response = client.post(reverse("invoices:refresh_payments", args=[sent.pk]), follow=True)
    assert "Updated from Razorpay." in response.content.decode()
    sent.refresh_from_db()
    assert sent.status == S.PAID


def test_an_order_nobody_paid_is_marked_failed_after_a_day(sent, owner, gateway):
    start(client_for(owner), sent, sent.balance_due)
    services.reconcile(now=timezone.now() + datetime.timedelta(hours=2))
    payment = Payment.objects.get()
    assert payment.status == "created"
    Payment.objects.filter(pk=payment.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=2)
    )
    services.reconcile()
    payment.refresh_from_db()
    assert (payment.status, payment.failure_reason) == (
        "failed",
        "No payment was made for this order.",
    )


# --- refunds through the gateway ------------------------------------------------------------------


@pytest.fixture
def paid_by_razorpay(sent, owner, gateway, django_capture_on_commit_callbacks):
    pay_in_full(client_for(owner), sent, django_capture_on_commit_callbacks)
    sent.refresh_from_db()
    assert sent.status == S.PAID
    return Payment.objects.get(invoice=sent, status="captured")


def refund(client, invoice, payment, amount, capture):
    data = {"refund-payment": payment.pk, "refund-amount": str(amount), "refund-reason": "Goodwill"}
    with capture(execute=True):
        return client.post(reverse("invoices:refund", args=[invoice.pk]), data, follow=True)


def test_finance_refunds_part_then_the_rest_through_the_gateway(
    paid_by_razorpay, finance, django_capture_on_commit_callbacks
):
    payment, invoice = paid_by_razorpay, paid_by_razorpay.invoice
    client = client_for(finance)
    page = refund(client, invoice, payment, D("100.00"), django_capture_on_commit_callbacks)
    assert "Razorpay" in page.content.decode()
    first = Refund.objects.get()
    assert (first.status, first.amount) == ("processed", D("100.00"))
    assert first.gateway_refund_id.startswith("rfnd_")
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert (invoice.status, invoice.amount_refunded, payment.amount_refunded) == (
        S.REFUNDED,
        D("100.00"),
        D("100.00"),
    )
    # More than is left is refused, and nothing is sent to the gateway.
    response = refund(client, invoice, payment, payment.amount, django_capture_on_commit_callbacks)
    assert "at most" in response.content.decode()
    assert Refund.objects.count() == 1
    refund(
        client, invoice, payment, payment.amount - D("100.00"), django_capture_on_commit_callbacks
    )
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.amount_refunded == payment.amount == invoice.amount_refunded


def test_a_refund_the_gateway_fails_leaves_the_money_where_it_was(
    paid_by_razorpay, billing_admin, settings, django_capture_on_commit_callbacks
):
    settings.RAZORPAY_SANDBOX_REFUND_OUTCOME = "failed"
    payment, invoice = paid_by_razorpay, paid_by_razorpay.invoice
    refund(
        client_for(billing_admin), invoice, payment, D("50.00"), django_capture_on_commit_callbacks
    )
    assert Refund.objects.get().status == "failed"
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert (invoice.status, invoice.amount_refunded, payment.amount_refunded) == (S.PAID, 0, 0)


def test_a_pending_refund_counts_against_what_may_still_be_refunded(
    paid_by_razorpay, billing_admin, settings, django_capture_on_commit_callbacks
):
    settings.RAZORPAY_SANDBOX_REFUND_OUTCOME = "pending"
    payment, invoice = paid_by_razorpay, paid_by_razorpay.invoice
    client = client_for(billing_admin)
    refund(client, invoice, payment, payment.amount, django_capture_on_commit_callbacks)
    assert Refund.objects.get().status == "pending"
    response = refund(client, invoice, payment, D("1.00"), django_capture_on_commit_callbacks)
    assert "at most ₹0" in response.content.decode()
    assert Refund.objects.count() == 1


def test_in_live_mode_the_pay_page_alone_allows_razorpays_checkout_script(
    sent, owner, gateway, settings
):
    """Live mode renders our page loading checkout.js; its CSP allows Razorpay on that page only.
    (The order is still created through the sandbox here: no network reaches Razorpay.)"""
    settings.RAZORPAY_MODE = "live"
    client = client_for(owner)
    response = client.post(reverse("invoices:pay", args=[sent.pk]), {"pay-amount": "100.00"})
    assert response.status_code == 200
    page = response.content.decode()
    assert '<script src="https://checkout.razorpay.com/v1/checkout.js"' in page
    payment = Payment.objects.get(invoice=sent)
    assert f'data-order-id="{payment.gateway_order_id}"' in page
    assert 'data-amount="10000"' in page  # paise, only at the gateway's boundary
    policy = response["Content-Security-Policy"]
    assert "https://checkout.razorpay.com" in policy
    assert "frame-src https://api.razorpay.com" in policy
    elsewhere = client.get(reverse("invoices:detail", args=[sent.pk]))["Content-Security-Policy"]
    assert "razorpay" not in elsewhere
