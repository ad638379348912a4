"""The Razorpay sandbox, driven by the real ``razorpay`` SDK through the in-process transport.

Webhooks go to a stubbed URL (``HOOK_PATH``), not to the product's receiver, so these tests hold
whatever state the product side is in.
"""

import json
import re
import threading
import time
from urllib.parse import urlencode

import pytest
import razorpay
import requests
from django.db import connection
from django.urls import reverse
from razorpay.errors import BadRequestError, SignatureVerificationError

from payments import transport
from payments.sandbox import services, tasks
from payments.sandbox.models import (
    SandboxOrder,
    SandboxPayment,
    SandboxRefund,
    SandboxWebhookEvent,
)

pytestmark = pytest.mark.django_db

HOOK_PATH = "/test-hooks/razorpay"
UPI = {
    "method": "upi",
    "vpa": "success@razorpay",
    "email": "payer@acme.example",
    "contact": "+919876543210",
}
CARD = {
    "method": "card",
    "card_number": "4111 1111 1111 1111",
    "card_expiry": "12/39",
    "card_cvv": "123",
    "card_name": "Asha Rao",
    "email": "payer@acme.example",
    "contact": "9876543210",
}


@pytest.fixture
def hook_url(settings):
    return settings.SITE_URL + HOOK_PATH


@pytest.fixture
def sandbox(settings, inprocess_http, hook_url):
    """The sandbox as the tests want it: webhooks to a stub answering 200, in order, once each;
    refunds processed on commit."""
    settings.RAZORPAY_SANDBOX_WEBHOOK_URL = hook_url
    settings.RAZORPAY_SANDBOX_WEBHOOK_CHAOS = False
    settings.RAZORPAY_SANDBOX_REFUND_OUTCOME = "processed"
    inprocess_http.stub(hook_url, status=200)
    return inprocess_http


@pytest.fixture
def rzp(sandbox, settings) -> razorpay.Client:
    return razorpay.Client(
        session=transport.session(),
        auth=(settings.RAZORPAY_KEY_ID, settings.RAZORPAY_KEY_SECRET),
        base_url=settings.RAZORPAY_BASE_URL,
    )


def checkout_url(order_id: str, **options: str) -> str:
    from django.conf import settings

    query = {
        "key_id": settings.RAZORPAY_KEY_ID,
        "callback_url": "/payments/razorpay/callback",
        "name": "Cirrus Cloud",
        "description": "Invoice INV-2026-000123",
        "prefill_email": "payer@acme.example",
        "prefill_contact": "+919876543210",
        **options,
    }
    return reverse("sandbox:checkout", args=[order_id]) + "?" + urlencode(query)


def pay(client, order_id: str, fields=UPI, *, action="pay", failure="", **options):
    data = {**fields, "action": action}
    if failure:
        data["failure"] = failure
    return client.post(checkout_url(order_id, **options), data)


def hooks(http, url):
    """(event name, event id, body, signature) of each webhook delivered, in delivery order."""
    return [
        (
            json.loads(e.body)["event"],
            e.headers["X-Razorpay-Event-Id"],
            e.body.decode(),
            e.headers["X-Razorpay-Signature"],
        )
        for e in http.to(url)
    ]


def paid_order(rzp, client, capture_callbacks, *, amount=118000, fields=UPI, **order_fields):
    order = rzp.order.create({"amount": amount, "currency": "INR", **order_fields})
    with capture_callbacks(execute=True):
        response = pay(client, order["id"], fields)
    assert response.status_code == 200
    return order, response.context["payment"]


# --- API ----------------------------------------------------------------------------------------
def test_the_sdk_creates_and_fetches_an_order(rzp):
    created = rzp.order.create(
        {
            "amount": 118000,
            "currency": "INR",
            "receipt": "INV-2026-000123",
            "notes": {"invoice_id": "42", "tenant": "acme"},
        }
    )
    assert re.fullmatch(r"order_[0-9A-Za-z]{14}", created["id"])
    assert created["entity"] == "order"
    assert created["amount"] == created["amount_due"] == 118000
    assert created["amount_paid"] == 0
    assert created["status"] == "created"
    assert created["attempts"] == 0
    assert created["notes"] == {"invoice_id": "42", "tenant": "acme"}
    assert isinstance(created["created_at"], int)
    fetched = rzp.order.fetch(created["id"])
    assert fetched == created
    assert rzp.order.payments(created["id"]) == {"entity": "collection", "count": 0, "items": []}


def test_empty_notes_come_back_as_a_list_as_razorpay_sends_them(rzp):
    assert rzp.order.create({"amount": 500, "currency": "INR"})["notes"] == []


def test_wrong_keys_make_the_sdk_raise(sandbox, settings):
    bad = razorpay.Client(
        session=transport.session(),
        auth=(settings.RAZORPAY_KEY_ID, "not-the-secret"),
        base_url=settings.RAZORPAY_BASE_URL,
    )
    with pytest.raises(BadRequestError, match="Authentication failed"):
        bad.order.create({"amount": 500, "currency": "INR"})
    reply = transport.session().get(settings.RAZORPAY_BASE_URL + "/v1/orders")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "BAD_REQUEST_ERROR"
    assert not SandboxOrder.objects.exists()


def test_an_amount_under_one_rupee_is_a_bad_request(rzp):
    with pytest.raises(BadRequestError, match=r"The amount must be atleast INR 1\.00"):
        rzp.order.create({"amount": 99, "currency": "INR"})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"currency": "INR"}, "The amount field is required."),
        ({"amount": "ten", "currency": "INR"}, "The amount must be an integer."),
        ({"amount": 500}, "The currency field is required."),
        ({"amount": 500, "currency": "USD"}, "Currency is not supported"),
        ({"amount": 500, "currency": "INR", "receipt": "R" * 41}, "may not be greater than 40"),
        (
            {"amount": 500, "currency": "INR", "notes": {f"k{i}": "v" for i in range(16)}},
            "less than or equal to 15",
        ),
        ({"amount": 500, "currency": "INR", "colour": "blue"}, "colour is/are not required"),
    ],
)
def test_order_fields_are_checked_as_razorpay_checks_them(rzp, data, message):
    with pytest.raises(BadRequestError, match=re.escape(message)):
        rzp.order.create(data)
    assert not SandboxOrder.objects.exists()


def test_an_unknown_id_answers_404_with_razorpay_error(rzp, settings):
    for fetch in (rzp.order.fetch, rzp.payment.fetch, rzp.refund.fetch):
        with pytest.raises(BadRequestError, match="The id provided does not exist"):
            fetch("order_00000000000000")
    auth = (settings.RAZORPAY_KEY_ID, settings.RAZORPAY_KEY_SECRET)
    reply = transport.session().get(
        settings.RAZORPAY_BASE_URL + "/v1/payments/pay_00000000000000", auth=auth
    )
    assert reply.status_code == 404
    assert reply.json()["error"]["description"] == "The id provided does not exist"


# --- Checkout -----------------------------------------------------------------------------------
def test_the_checkout_page_shows_merchant_invoice_and_amount(rzp, client):
    order = rzp.order.create({"amount": 12345678, "currency": "INR"})
    response = client.get(checkout_url(order["id"]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Sandbox — no real money" in page
    assert "Cirrus Cloud" in page
    assert "Invoice INV-2026-000123" in page
    assert "Pay ₹1,23,456.78" in page
    assert 'value="payer@acme.example"' in page
    for method in ("UPI", "Card", "Netbanking", "Wallet"):
        assert method in page
    assert "Fail payment" in page
    # The CSP allows no inline script or style.
    assert "style=" not in page
    assert "onclick" not in page
    assert re.search(r"<script(?![^>]*\bsrc=)", page) is None


def test_checkout_success_captures_and_posts_a_signed_callback(
    rzp, client, sandbox, hook_url, django_capture_on_commit_callbacks
):
    order = rzp.order.create({"amount": 118000, "currency": "INR", "receipt": "INV-1"})
    with django_capture_on_commit_callbacks(execute=True):
        response = pay(client, order["id"])
    assert response.status_code == 200
    fields = response.context["callback_fields"]
    assert set(fields) == {"razorpay_payment_id", "razorpay_order_id", "razorpay_signature"}
    assert fields["razorpay_order_id"] == order["id"]
    assert rzp.utility.verify_payment_signature(fields) is True
    page = response.content.decode()
    assert 'action="/payments/razorpay/callback"' in page
    assert "Return to the merchant" in page
    assert 'name="razorpay_signature" value="{}"'.format(fields["razorpay_signature"]) in page

    payment = rzp.payment.fetch(fields["razorpay_payment_id"])
    assert re.fullmatch(r"pay_[0-9A-Za-z]{14}", payment["id"])
    assert payment["status"] == "captured"
    assert payment["captured"] is True
    assert payment["method"] == "upi"
    assert payment["vpa"] == "success@razorpay"
    assert payment["amount"] == 118000
    assert payment["amount_refunded"] == 0
    assert payment["refund_status"] is None
    assert payment["error_code"] is None
    assert payment["email"] == "payer@acme.example"
    assert payment["description"] == "Invoice INV-2026-000123"
    paid = rzp.order.fetch(order["id"])
    assert (paid["status"], paid["amount_paid"], paid["amount_due"], paid["attempts"]) == (
        "paid",
        118000,
        0,
        1,
    )
    assert [p["id"] for p in rzp.order.payments(order["id"])["items"]] == [payment["id"]]


def test_a_forged_callback_signature_fails_the_sdk_check(
    rzp, client, django_capture_on_commit_callbacks
):
    _, payment = paid_order(rzp, client, django_capture_on_commit_callbacks)
    forged = {
        "razorpay_order_id": payment.order_id,
        "razorpay_payment_id": payment.id,
        "razorpay_signature": "0" * 64,
    }
    with pytest.raises(SignatureVerificationError):
        rzp.utility.verify_payment_signature(forged)


def test_checkout_failure_posts_razorpay_error_fields(
    rzp, client, sandbox, hook_url, django_capture_on_commit_callbacks
):
    order = rzp.order.create({"amount": 50000, "currency": "INR"})
    with django_capture_on_commit_callbacks(execute=True):
        response = pay(client, order["id"], action="fail", failure="insufficient_funds")
    fields = response.context["callback_fields"]
    metadata = json.loads(fields.pop("error[metadata]"))
    assert fields == {
        "error[code]": "BAD_REQUEST_ERROR",
        "error[description]": (
            "Your payment could not be completed due to insufficient account balance."
        ),
        "error[source]": "customer",
        "error[step]": "payment_authorization",
        "error[reason]": "insufficient_funds",
    }
    payment = rzp.payment.fetch(metadata["payment_id"])
    assert metadata["order_id"] == order["id"]
    assert payment["status"] == "failed"
    assert payment["captured"] is False
    assert payment["error_reason"] == "insufficient_funds"
    assert payment["error_source"] == "customer"
    attempted = rzp.order.fetch(order["id"])
    assert (attempted["status"], attempted["attempts"], attempted["amount_paid"]) == (
        "attempted",
        1,
        0,
    )
    assert [name for name, *_ in hooks(sandbox, hook_url)] == ["payment.failed"]
    # The payer tries again, and pays.
    with django_capture_on_commit_callbacks(execute=True):
        pay(client, order["id"])
    again = rzp.order.fetch(order["id"])
    assert (again["status"], again["attempts"]) == ("paid", 2)


def test_a_card_payment_keeps_only_the_last_four_digits_and_the_network(
    rzp, client, django_capture_on_commit_callbacks
):
    _, payment = paid_order(rzp, client, django_capture_on_commit_callbacks, fields=CARD)
    entity = rzp.payment.fetch(payment.id)
    assert entity["method"] == "card"
    assert entity["card"]["last4"] == "1111"
    assert entity["card"]["network"] == "Visa"
    assert entity["card_id"] == entity["card"]["id"]
    assert entity["card_id"].startswith("card_")
    row = SandboxPayment.objects.filter(pk=payment.id).values()[0]
    assert not any("4111111111111111" in str(v) or v == "123" for v in row.values())


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({**CARD, "card_number": "4111 1111 1111 1112"}, "card_number"),
        ({**CARD, "card_expiry": "01/20"}, "card_expiry"),
        ({**CARD, "card_cvv": "12"}, "card_cvv"),
        ({**UPI, "vpa": "not-a-vpa"}, "vpa"),
        ({**UPI, "contact": "12"}, "contact"),
    ],
)
def test_checkout_refuses_bad_payment_details(rzp, client, fields, field):
    order = rzp.order.create({"amount": 50000, "currency": "INR"})
    response = pay(client, order["id"], fields)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not SandboxPayment.objects.exists()
    assert 'value="123"' not in response.content.decode()  # a CVV is never shown back


def test_a_paid_order_shows_so_and_cannot_be_paid_again(
    rzp, client, django_capture_on_commit_callbacks
):
    order, _ = paid_order(rzp, client, django_capture_on_commit_callbacks)
    page = client.get(checkout_url(order["id"]))
    assert "This order has already been paid" in page.content.decode()
    assert "Fail payment" not in page.content.decode()
    again = pay(client, order["id"])
    assert again.status_code == 409
    assert SandboxPayment.objects.count() == 1


def test_an_order_without_auto_capture_waits_for_the_capture_call(
    rzp, client, sandbox, hook_url, django_capture_on_commit_callbacks
):
    order = rzp.order.create({"amount": 25000, "currency": "INR", "payment_capture": 0})
    with django_capture_on_commit_callbacks(execute=True):
        payment_id = pay(client, order["id"]).context["payment"].id
    authorized = rzp.payment.fetch(payment_id)
    assert (authorized["status"], authorized["captured"]) == ("authorized", False)
    assert rzp.order.fetch(order["id"])["status"] == "attempted"
    with pytest.raises(BadRequestError, match="Capture amount must be equal"):
        rzp.payment.capture(payment_id, 100)
    with django_capture_on_commit_callbacks(execute=True):
        captured = rzp.payment.capture(payment_id, 25000, {"currency": "INR"})
    assert (captured["status"], captured["captured"]) == ("captured", True)
    assert rzp.order.fetch(order["id"])["status"] == "paid"
    with pytest.raises(BadRequestError, match="already been captured"):
        rzp.payment.capture(payment_id, 25000)
    assert [name for name, *_ in hooks(sandbox, hook_url)] == [
        "payment.authorized",
        "payment.captured",
        "order.paid",
    ]


# --- Callback and cancel URLs -------------------------------------------------------------------
@pytest.mark.parametrize(
    "callback_url",
    [
        "https://evil.example/cb",
        "//evil.example/cb",
        "http://127.0.0.1:8000@evil.example/cb",
        "javascript:alert(1)",
        "",
    ],
)
def test_a_callback_url_off_this_site_is_refused(rzp, client, callback_url):
    order = rzp.order.create({"amount": 50000, "currency": "INR"})
    for response in (
        client.get(checkout_url(order["id"], callback_url=callback_url)),
        pay(client, order["id"], callback_url=callback_url),
    ):
        assert response.status_code == 400
        assert "callback_url" in response.content.decode()
    assert not SandboxPayment.objects.exists()


def test_an_absolute_callback_url_on_site_url_is_accepted(rzp, client, settings):
    order = rzp.order.create({"amount": 50000, "currency": "INR"})
    url = settings.SITE_URL + "/payments/razorpay/callback?invoice=7"
    response = client.get(checkout_url(order["id"], callback_url=url))
    assert response.status_code == 200


def test_a_wrong_key_id_or_off_site_cancel_url_is_refused(rzp, client):
    order = rzp.order.create({"amount": 50000, "currency": "INR"})
    assert client.get(checkout_url(order["id"], key_id="rzp_test_other")).status_code == 400
    off_site = checkout_url(order["id"], cancel_url="https://evil.example/")
    assert client.get(off_site).status_code == 400
    assert client.get(checkout_url("order_00000000000000")).status_code == 404


# --- Webhooks -----------------------------------------------------------------------------------
def test_webhooks_are_signed_and_sent_in_order_once_each(
    rzp, client, sandbox, hook_url, settings, django_capture_on_commit_callbacks
):
    order, payment = paid_order(rzp, client, django_capture_on_commit_callbacks)
    delivered = hooks(sandbox, hook_url)
    assert [name for name, *_ in delivered] == [
        "payment.authorized",
        "payment.captured",
        "order.paid",
    ]
    for _, event_id, body, signature in delivered:
        assert rzp.utility.verify_webhook_signature(
            body, signature, settings.RAZORPAY_WEBHOOK_SECRET
        )
        assert event_id.startswith("evt_")
    assert len({event_id for _, event_id, *_ in delivered}) == 3
    for exchange in sandbox.to(hook_url):
        assert exchange.headers["Content-Type"] == "application/json"

    bodies = {name: json.loads(body) for name, _, body, _ in delivered}
    authorized = bodies["payment.authorized"]
    assert authorized["entity"] == "event"
    assert authorized["account_id"] == "acc_sandbox"
    assert authorized["contains"] == ["payment"]
    # Each body is a snapshot of the moment: authorized before it was captured.
    assert authorized["payload"]["payment"]["entity"]["status"] == "authorized"
    assert bodies["payment.captured"]["payload"]["payment"]["entity"]["captured"] is True
    paid = bodies["order.paid"]
    assert paid["contains"] == ["payment", "order"]
    assert paid["payload"]["order"]["entity"]["id"] == order["id"]
    assert paid["payload"]["order"]["entity"]["status"] == "paid"
    assert paid["payload"]["payment"]["entity"]["id"] == payment.id
    assert set(SandboxWebhookEvent.objects.values_list("deliveries", "last_status")) == {(1, 200)}


def test_chaos_sends_each_event_twice_and_the_batch_backwards(
    rzp, client, sandbox, hook_url, settings, django_capture_on_commit_callbacks
):
    settings.RAZORPAY_SANDBOX_WEBHOOK_CHAOS = True
    paid_order(rzp, client, django_capture_on_commit_callbacks)
    delivered = hooks(sandbox, hook_url)
    assert [name for name, *_ in delivered] == [
        "order.paid",
        "payment.captured",
        "payment.authorized",
        "order.paid",
        "payment.captured",
        "payment.authorized",
    ]
    # A duplicate carries the same event id, body and signature as the first delivery.
    assert delivered[:3] == delivered[3:]
    assert set(SandboxWebhookEvent.objects.values_list("deliveries", flat=True)) == {2}


def test_a_receiver_that_fails_is_retried_then_given_up(
    rzp, client, sandbox, hook_url, django_capture_on_commit_callbacks
):
    sandbox.stub(hook_url, status=500, body=b"boom")
    order = rzp.order.create({"amount": 50000, "currency": "INR"})
    with django_capture_on_commit_callbacks(execute=True):
        pay(client, order["id"], action="fail", failure="upi_expired")
    event = SandboxWebhookEvent.objects.get()
    # Eager tasks run their retries at once; a worker waits webhook_backoff between them.
    assert event.deliveries == tasks.MAX_ATTEMPTS
    assert event.last_status == 500
    assert "HTTP 500" in event.last_error
    assert {e.headers["X-Razorpay-Event-Id"] for e in sandbox.to(hook_url)} == {event.id}
    assert [services.webhook_backoff(n).total_seconds() for n in (1, 2, 3)] == [5, 20, 80]


def test_an_unreachable_receiver_counts_as_a_failed_delivery(
    rzp, client, sandbox, settings, django_capture_on_commit_callbacks
):
    settings.RAZORPAY_SANDBOX_WEBHOOK_URL = "https://merchant.invalid/hooks"
    order = rzp.order.create({"amount": 50000, "currency": "INR"})
    with django_capture_on_commit_callbacks(execute=True):
        pay(client, order["id"], action="fail", failure="bank_down")
    event = SandboxWebhookEvent.objects.get()
    assert event.deliveries == tasks.MAX_ATTEMPTS
    assert event.last_status is None
    assert "ConnectionError" in event.last_error


def test_staff_redeliver_an_event_with_the_same_id_and_body(
    rzp, client, sandbox, hook_url, as_user, billing_admin, django_capture_on_commit_callbacks
):
    paid_order(rzp, client, django_capture_on_commit_callbacks)
    first = hooks(sandbox, hook_url)
    event = SandboxWebhookEvent.objects.get(event="payment.captured")
    staff = as_user(billing_admin)
    page = staff.get(reverse("sandbox:console"))
    assert page.status_code == 200
    assert event.id in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(reverse("sandbox:console_redeliver", args=[event.id]))
    assert response.status_code == 302
    again = hooks(sandbox, hook_url)[-1]
    assert again == next(h for h in first if h[1] == event.id)
    event.refresh_from_db()
    assert event.deliveries == 2


# --- Refunds ------------------------------------------------------------------------------------
def test_a_refund_over_the_captured_amount_is_refused(
    rzp, client, django_capture_on_commit_callbacks
):
    _, payment = paid_order(rzp, client, django_capture_on_commit_callbacks, amount=50000)
    with pytest.raises(BadRequestError, match="greater than amount captured"):
        rzp.payment.refund(payment.id, {"amount": 50001})
    with django_capture_on_commit_callbacks(execute=True):
        rzp.payment.refund(payment.id, {"amount": 30000})
    with pytest.raises(BadRequestError, match="total refund amount is greater"):
        rzp.payment.refund(payment.id, {"amount": 20001})
    assert SandboxRefund.objects.count() == 1


def test_only_a_captured_payment_can_be_refunded(rzp, client, django_capture_on_commit_callbacks):
    order = rzp.order.create({"amount": 50000, "currency": "INR"})
    with django_capture_on_commit_callbacks(execute=True):
        failed = pay(client, order["id"], action="fail", failure="bank_declined")
    with pytest.raises(BadRequestError, match="not been captured"):
        rzp.payment.refund(failed.context["payment"].id, {"amount": 10000})


def test_a_partial_then_a_full_refund(
    rzp, client, sandbox, hook_url, settings, django_capture_on_commit_callbacks
):
    _, payment = paid_order(rzp, client, django_capture_on_commit_callbacks, amount=100000)
    sandbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        first = rzp.payment.refund(payment.id, {"amount": 40000, "notes": {"reason": "credit"}})
    assert re.fullmatch(r"rfnd_[0-9A-Za-z]{14}", first["id"])
    assert (first["status"], first["amount"], first["payment_id"]) == (
        "pending",
        40000,
        payment.id,
    )
    assert rzp.refund.fetch(first["id"])["status"] == "processed"
    partial = rzp.payment.fetch(payment.id)
    assert (partial["status"], partial["amount_refunded"], partial["refund_status"]) == (
        "captured",
        40000,
        "partial",
    )
    with django_capture_on_commit_callbacks(execute=True):
        rest = rzp.payment.refund(payment.id)  # no amount: what remains
    assert rest["amount"] == 60000
    full = rzp.payment.fetch(payment.id)
    assert (full["status"], full["amount_refunded"], full["refund_status"]) == (
        "refunded",
        100000,
        "full",
    )
    assert rzp.payment.fetch_refund_id(payment.id, rest["id"])["status"] == "processed"
    listed = rzp.payment.fetch_multiple_refund(payment.id)
    assert {r["id"] for r in listed["items"]} == {first["id"], rest["id"]}
    with pytest.raises(BadRequestError, match="fully refunded already"):
        rzp.payment.refund(payment.id, {"amount": 100})

    delivered = hooks(sandbox, hook_url)
    assert [name for name, *_ in delivered] == ["refund.processed", "refund.processed"]
    body = json.loads(delivered[-1][2])
    assert body["contains"] == ["refund", "payment"]
    assert body["payload"]["refund"]["entity"]["id"] == rest["id"]
    assert body["payload"]["payment"]["entity"]["refund_status"] == "full"
    for _, _, raw, signature in delivered:
        assert rzp.utility.verify_webhook_signature(
            raw, signature, settings.RAZORPAY_WEBHOOK_SECRET
        )


def test_a_failed_refund_sends_refund_failed_and_frees_its_amount(
    rzp, client, sandbox, hook_url, settings, django_capture_on_commit_callbacks
):
    settings.RAZORPAY_SANDBOX_REFUND_OUTCOME = "failed"
    _, payment = paid_order(rzp, client, django_capture_on_commit_callbacks, amount=50000)
    sandbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        refund = rzp.payment.refund(payment.id, {"amount": 50000})
    assert rzp.refund.fetch(refund["id"])["status"] == "failed"
    entity = rzp.payment.fetch(payment.id)
    assert (entity["amount_refunded"], entity["refund_status"]) == (0, None)
    assert [name for name, *_ in hooks(sandbox, hook_url)] == ["refund.failed"]
    settings.RAZORPAY_SANDBOX_REFUND_OUTCOME = "processed"
    with django_capture_on_commit_callbacks(execute=True):
        retried = rzp.payment.refund(payment.id, {"amount": 50000})
    assert rzp.refund.fetch(retried["id"])["status"] == "processed"


def test_a_pending_refund_waits_for_a_settle_which_happens_once(
    rzp, client, sandbox, hook_url, django_capture_on_commit_callbacks, settings
):
    settings.RAZORPAY_SANDBOX_REFUND_OUTCOME = "pending"
    _, payment = paid_order(rzp, client, django_capture_on_commit_callbacks, amount=50000)
    sandbox.clear()
    with django_capture_on_commit_callbacks(execute=True) as queued:
        refund = rzp.payment.refund(payment.id, {"amount": 20000})
    assert queued == []
    assert rzp.refund.fetch(refund["id"])["status"] == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        settled = services.settle_refund(refund["id"], "processed")
        services.settle_refund(refund["id"], "failed")  # too late: already settled
    assert settled.status == "processed"
    assert rzp.refund.fetch(refund["id"])["status"] == "processed"
    assert [name for name, *_ in hooks(sandbox, hook_url)] == ["refund.processed"]


# --- Console ------------------------------------------------------------------------------------
def test_the_console_is_for_staff_only(client, as_user, owner, finance, billing_admin):
    url = reverse("sandbox:console")
    assert client.get(url).status_code == 302  # to sign in
    assert as_user(owner).get(url).status_code == 403
    assert (
        as_user(owner)
        .post(reverse("sandbox:console_redeliver", args=["evt_00000000000000"]))
        .status_code
        == 403
    )
    assert as_user(finance).get(url).status_code == 200
    assert as_user(billing_admin).get(url).status_code == 200


def test_staff_settle_a_pending_refund_from_the_console(
    rzp, client, sandbox, hook_url, as_user, finance, settings, django_capture_on_commit_callbacks
):
    settings.RAZORPAY_SANDBOX_REFUND_OUTCOME = "pending"
    _, payment = paid_order(rzp, client, django_capture_on_commit_callbacks, amount=50000)
    with django_capture_on_commit_callbacks(execute=True):
        refund = rzp.payment.refund(payment.id, {"amount": 10000})
    staff = as_user(finance)
    page = staff.get(reverse("sandbox:console")).content.decode()
    assert "Settle: processed" in page
    sandbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            reverse("sandbox:console_settle", args=[refund["id"]]), {"outcome": "failed"}
        )
    assert response.status_code == 302
    assert SandboxRefund.objects.get(pk=refund["id"]).status == "failed"
    assert [name for name, *_ in hooks(sandbox, hook_url)] == ["refund.failed"]


# --- Over the network and under concurrency -----------------------------------------------------
# A live server over SQLite's shared in-memory database leaves the content types the browser
# journeys' snapshot restores; on PostgreSQL (CI) each thread has its own connection.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_sdk_reaches_the_sandbox_over_a_real_socket(live_server, migrated_rows, settings):
    base_url = live_server.url + "/sandbox/razorpay"
    # Closed before the test ends: a kept-alive socket would hold a server thread on the shared
    # in-memory SQLite connection past the test.
    with requests.Session() as http:
        rzp = razorpay.Client(
            session=http,
            auth=(settings.RAZORPAY_KEY_ID, settings.RAZORPAY_KEY_SECRET),
            base_url=base_url,
        )
        order = rzp.order.create({"amount": 118000, "currency": "INR", "receipt": "INV-live"})
        assert re.fullmatch(r"order_[0-9A-Za-z]{14}", order["id"])
        assert rzp.order.fetch(order["id"])["receipt"] == "INV-live"
        wrong = razorpay.Client(
            session=http, auth=(settings.RAZORPAY_KEY_ID, "wrong"), base_url=base_url
        )
        with pytest.raises(BadRequestError, match="Authentication failed"):
            wrong.order.fetch(order["id"])
    assert SandboxOrder.objects.filter(pk=order["id"], amount=118000).exists()


# A live server over SQLite's shared in-memory database leaves the content types the browser
# journeys' snapshot restores; on PostgreSQL (CI) each thread has its own connection.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_api_call_is_answered_before_its_webhooks_go_out(
    live_server, migrated_rows, sandbox, hook_url, settings
):
    """Eager tasks in the demo: the merchant's refund call gets its reply first (it may hold a
    row lock across the call), then the webhooks follow, as from Razorpay."""
    replied, delivered = threading.Event(), threading.Event()
    seen: list[tuple[str, bool]] = []

    def receiver(request) -> int:
        name = json.loads(request.body)["event"]
        if name.startswith("refund."):
            seen.append((name, replied.wait(timeout=5)))
            delivered.set()
        return 200

    sandbox.stub(hook_url, handler=receiver)
    order = services.order_create(
        amount=50000, currency="INR", receipt=None, notes={}, auto_capture=True
    )
    payer = services.Payer(method="upi", email="p@acme.example", contact="9876543210", vpa="a@b")
    payment = services.payment_attempt(order_id=order.id, payer=payer, failure=None)
    with requests.Session() as http:
        rzp = razorpay.Client(
            session=http,
            auth=(settings.RAZORPAY_KEY_ID, settings.RAZORPAY_KEY_SECRET),
            base_url=live_server.url + "/sandbox/razorpay",
        )
        refund = rzp.payment.refund(payment.id, {"amount": 10000})
        replied.set()
    assert refund["status"] == "pending"
    assert delivered.wait(timeout=10)
    assert seen == [("refund.processed", True)]
    time.sleep(0.3)  # the server thread records the delivery after the receiver answers
    assert SandboxRefund.objects.get(pk=refund["id"]).status == "processed"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_refunds_at_once_cannot_exceed_the_captured_amount(migrated_rows, sandbox, settings):
    settings.RAZORPAY_SANDBOX_REFUND_OUTCOME = "pending"
    order = services.order_create(
        amount=50000, currency="INR", receipt=None, notes={}, auto_capture=True
    )
    payer = services.Payer(method="upi", email="p@acme.example", contact="9876543210", vpa="a@b")
    payment = services.payment_attempt(order_id=order.id, payer=payer, failure=None)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def refund() -> None:
        try:
            barrier.wait()
            services.refund_create(
                payment_id=payment.id, amount=30000, notes={}, receipt=None, speed="normal"
            )
            outcomes.append("created")
        except services.SandboxError as refusal:
            outcomes.append(refusal.description)
        finally:
            connection.close()

    threads = [threading.Thread(target=refund) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [
        "The total refund amount is greater than the refund payment amount",
        "created",
    ]
    assert SandboxRefund.objects.filter(payment=payment).count() == 1
