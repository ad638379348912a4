"""Redis stops while a customer pays through Pay Now (gunicorn, the built-in sandbox, a worker and
beat, all on the private PostgreSQL and Redis): the payment is recorded all the same, and the
receipt that could not be queued goes out through the SMTP server once Redis is back.

What carries it: the receipt is an outbox row written in the payment's transaction; queuing its
task on commit meets the broker's refusal, which is logged (not raised: the payment is committed
by then) and leaves the row due; beat's outbox flush queues it again when the broker answers.
"""

from decimal import Decimal
from urllib.parse import urljoin

import requests
from django.test import Client
from django.urls import reverse

from invoices.models import Invoice, OutboundEmail
from payments.models import Payment
from tests.faults.stack import csrf_token, html_forms, json_lines, wait_until
from tests.invoices.builders import InvoiceBuilder

UPI = {
    "method": "upi",
    "vpa": "asha@okhdfc",
    "email": "payer@acme.example",
    "contact": "9876543210",
}


def signed_in(stack, user) -> requests.Session:
    """A browser session for ``user`` on the stack's gunicorn (a session row, as a sign-in
    leaves: signing in itself counts failures in Redis, which is the part about to fail)."""
    client = Client()
    client.force_login(user)
    browser = requests.Session()
    browser.cookies.set("sessionid", client.cookies["sessionid"].value, domain="127.0.0.1")
    return browser


def test_a_payment_made_while_redis_is_down_is_recorded_and_its_receipt_sent_later(
    figures, provider, acme, owner, billing_admin, stack, smtp_sink
):
    invoice = InvoiceBuilder(staff=billing_admin, tenant=acme)(Invoice.Status.SENT)
    amount = invoice.balance_due
    assert amount > 0
    web = stack.web().start()
    worker = stack.worker().start()
    beat = stack.beat(EMAIL_OUTBOX_FLUSH_SECONDS="2").start()
    stack.wait_for_web(web)
    # Both connected to Redis before it goes: the outage is one they live through.
    assert wait_until(lambda: "ready." in worker.log_text(), timeout=60), worker.log_tail()
    assert wait_until(lambda: "beat: Starting" in beat.log_text(), timeout=60), beat.log_tail()
    browser = signed_in(stack, owner)
    site = stack.site_url
    sheet = browser.get(f"{site}{reverse('invoices:detail', args=[invoice.pk])}", timeout=30)
    assert sheet.status_code == 200

    redis = stack.redis
    redis.stop()
    assert not redis.is_up()

    # Pay Now: the order, the sandbox's checkout, its signed callback back to us.
    pay = browser.post(
        f"{site}{reverse('invoices:pay', args=[invoice.pk])}",
        data={"csrfmiddlewaretoken": csrf_token(sheet.text), "pay-amount": str(amount)},
        allow_redirects=False,
        timeout=30,
    )
    assert pay.status_code == 302, pay.text[:2000]
    checkout_url = urljoin(site, pay.headers["Location"])
    checkout = browser.get(checkout_url, timeout=30)
    assert checkout.status_code == 200, checkout.text[:2000]
    paid = browser.post(
        checkout_url,
        data={**UPI, "action": "pay", "csrfmiddlewaretoken": csrf_token(checkout.text)},
        timeout=30,
    )
    assert paid.status_code == 200, paid.text[:2000]
    [back] = [f for f in html_forms(paid.text) if "data-sandbox-callback" in f["attrs"]]
    callback = browser.post(
        urljoin(site, back["attrs"]["action"]),  # type: ignore[index]
        data=back["fields"],
        allow_redirects=False,
        timeout=30,
    )
    assert callback.status_code == 302, callback.text[:2000]
    assert not redis.is_up(), "Redis came back during the payment: the test proves nothing"

    # Recorded, with Redis still down.
    payment = Payment.objects.get(invoice=invoice, method=Payment.Method.RAZORPAY)
    assert (payment.status, payment.amount) == (Payment.Status.CAPTURED, amount)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.balance_due) == (Invoice.Status.PAID, Decimal("0.00"))
    receipt = OutboundEmail.objects.get(invoice=invoice, kind=OutboundEmail.Kind.RECEIPT)
    assert receipt.status == OutboundEmail.Status.QUEUED
    [refusal] = [
        e
        for e in json_lines(web.log_text())
        if e["message"].startswith(f"email {receipt.pk} stays")
    ]  # the web process met the broker's refusal, in the callback request
    assert refusal["request_id"] == callback.headers["X-Request-ID"]
    assert not [m for m in smtp_sink.received() if m["To"] == acme.billing_email]

    redis.start()
    delivered = wait_until(
        lambda: any(m["To"] == acme.billing_email for m in smtp_sink.received()),
        timeout=90,
        interval=0.25,
    )
    assert delivered, f"no receipt after Redis came back:\n{stack.logs()}"
    # The worker marks the row sent just after the SMTP server took the message.
    wait_until(
        lambda: OutboundEmail.objects.get(pk=receipt.pk).status == OutboundEmail.Status.SENT,
        timeout=10,
    )
    receipt.refresh_from_db()
    assert (receipt.status, receipt.attempts) == (OutboundEmail.Status.SENT, 1)
    [message] = [m for m in smtp_sink.received() if m["To"] == acme.billing_email]
    # Sent because beat's outbox flush queued it again (the task from the callback was refused).
    assert any(
        e.get("task") == "invoices.tasks.flush_outbox" for e in json_lines(worker.log_text())
    )
    assert message["Subject"] == receipt.subject
    assert worker.running
    assert beat.running
    assert web.running
    figures(
        f"redis outage: payment {payment.gateway_payment_id} of ₹{amount} recorded with Redis "
        f"down; receipt {receipt.pk} sent after it came back"
    )
