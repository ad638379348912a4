"""Money recorded exactly once when everything arrives at once (PostgreSQL, real transactions).

Each racer is a thread with its own database connection posting to our real receiver (webhook or
callback) through Django's test client; the sandbox's own deliveries go to a stub, so the test
fires the signed bodies itself, all released by one barrier.
"""

import threading
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client

from invoices.models import Invoice, InvoiceEvent
from payments import services
from payments.models import Payment, WebhookEvent
from payments.sandbox import services as sandbox
from payments.sandbox.models import SandboxWebhookEvent
from payments.sandbox.views import callback_fields
from tests.invoices.builders import InvoiceBuilder

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

S = Invoice.Status
PAYER = sandbox.Payer(
    method="upi", email="payer@acme.example", contact="9876543210", vpa="a@okicici"
)


@pytest.fixture
def gateway(settings, inprocess_http):
    settings.RAZORPAY_SANDBOX_WEBHOOK_URL = f"{settings.SITE_URL}/hooks-stub"
    settings.RAZORPAY_SANDBOX_WEBHOOK_CHAOS = False
    inprocess_http.stub(settings.RAZORPAY_SANDBOX_WEBHOOK_URL, status=200)
    return inprocess_http


def race(requests_: list[tuple[str, dict, dict]]) -> list[int]:
    """POST each (path, data, extra) from its own thread at the same moment; status codes back."""
    barrier = threading.Barrier(len(requests_))
    codes: list[int] = [0] * len(requests_)
    errors: list[BaseException] = []

    def run(i: int, path: str, data: dict, extra: dict) -> None:
        try:
            client = Client()
            barrier.wait()
            if isinstance(data, bytes):
                codes[i] = client.post(
                    path, data=data, content_type="application/json", **extra
                ).status_code
            else:
                codes[i] = client.post(path, data, **extra).status_code
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, *r)) for i, r in enumerate(requests_)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return codes


def paid_at_sandbox(invoice: Invoice, owner, amount: Decimal):
    payment = services.pay_now_start(invoice=invoice, amount=amount, actor=owner)
    attempt = sandbox.payment_attempt(order_id=payment.gateway_order_id, payer=PAYER, failure=None)
    return payment, attempt


def callback_path(payment: Payment) -> str:
    """The signed callback URL Pay Now gives the checkout, as a path."""
    from payments.views import _callback_url

    url = urlsplit(_callback_url(None, payment))  # type: ignore[arg-type]
    return f"{url.path}?{url.query}"


def test_the_same_webhook_fifty_times_raced_against_the_callback_applies_once(
    migrated_rows, provider, acme, billing_admin, owner, gateway
):
    invoice = InvoiceBuilder(staff=billing_admin, tenant=acme)(S.SENT)
    payment, attempt = paid_at_sandbox(invoice, owner, invoice.balance_due)
    captured = SandboxWebhookEvent.objects.get(event="payment.captured", entity_id=attempt.id)
    headers = {
        f"HTTP_{k.upper().replace('-', '_')}": v
        for k, v in sandbox.webhook_headers(captured).items()
        if k.startswith("X-")
    }
    body = captured.body.encode()
    racers = [("/payments/razorpay/webhook", body, headers)] * 50
    racers.append((callback_path(payment), callback_fields(attempt), {}))

    codes = race(racers)

    assert codes[:50] == [200] * 50
    assert codes[50] == 302
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert (invoice.status, invoice.amount_paid, invoice.balance_due) == (
        S.PAID,
        invoice.total,
        Decimal("0.00"),
    )
    assert Payment.objects.filter(invoice=invoice).count() == 1
    assert payment.status == "captured"
    assert payment.applied_at is not None
    assert invoice.events.filter(type=InvoiceEvent.Type.PAYMENT).count() == 1
    event = WebhookEvent.objects.get()
    assert (event.event_id, event.deliveries) == (captured.id, 50)
    assert event.processed_at is not None


def test_ten_part_payments_at_once_add_up_to_the_paisa(
    migrated_rows, provider, acme, billing_admin, owner, gateway
):
    invoice = InvoiceBuilder(staff=billing_admin, tenant=acme)(S.SENT)
    part = (invoice.balance_due / 10).quantize(Decimal("0.01"))
    amounts = [part] * 9 + [invoice.balance_due - part * 9]
    attempts = [paid_at_sandbox(invoice, owner, amount) for amount in amounts]

    codes = race([(callback_path(p), callback_fields(a), {}) for p, a in attempts])

    assert codes == [302] * 10
    invoice.refresh_from_db()
    assert invoice.amount_paid == sum(amounts) == invoice.total
    assert (invoice.status, invoice.balance_due) == (S.PAID, Decimal("0.00"))
    assert (
        Payment.objects.filter(invoice=invoice, status="captured").exclude(applied_at=None).count()
        == 10
    )
    assert invoice.events.filter(type=InvoiceEvent.Type.PAYMENT).count() == 10
