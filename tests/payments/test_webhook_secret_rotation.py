"""Rotating the Razorpay webhook secret: while RAZORPAY_WEBHOOK_SECRET_PREVIOUS is set, webhooks
signed with either secret are taken (docs/operations.md); once it is unset, only the new one."""

import pytest

from invoices.models import Invoice
from payments import gateway
from payments.models import Payment, WebhookEvent
from tests.conftest import client_for
from tests.payments.test_pay_now import event_body, post_hook, signed, start

pytestmark = pytest.mark.django_db

BODY = b'{"entity":"event","event":"payment.captured"}'


@pytest.fixture
def started(make_invoice, owner, inprocess_http):
    """A Pay Now order for a sent invoice, the payer still in the sandbox's checkout."""
    invoice = make_invoice(Invoice.Status.SENT)
    start(client_for(owner), invoice, invoice.balance_due)
    return Payment.objects.get(invoice=invoice)


@pytest.fixture
def rotating(settings):
    settings.RAZORPAY_WEBHOOK_SECRET = "new-webhook-secret"
    settings.RAZORPAY_WEBHOOK_SECRET_PREVIOUS = "old-webhook-secret"
    return settings


def test_during_a_rotation_either_secret_verifies_and_nothing_else_does(rotating):
    assert gateway.verify_webhook_signature(body=BODY, signature=signed(BODY, "new-webhook-secret"))
    assert gateway.verify_webhook_signature(body=BODY, signature=signed(BODY, "old-webhook-secret"))
    assert not gateway.verify_webhook_signature(body=BODY, signature=signed(BODY, "other"))
    assert not gateway.verify_webhook_signature(
        body=BODY, signature=signed(BODY, rotating.RAZORPAY_KEY_SECRET)
    )


def test_after_the_rotation_the_old_secret_is_refused(rotating):
    rotating.RAZORPAY_WEBHOOK_SECRET_PREVIOUS = ""
    assert gateway.verify_webhook_signature(body=BODY, signature=signed(BODY, "new-webhook-secret"))
    assert not gateway.verify_webhook_signature(
        body=BODY, signature=signed(BODY, "old-webhook-secret")
    )


def test_a_webhook_signed_with_the_previous_secret_is_stored_and_applied(
    started, rotating, client, django_capture_on_commit_callbacks
):
    body = event_body(started, "payment.captured")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_hook(client, body, signed(body, "old-webhook-secret"))
    assert response.status_code == 200
    assert WebhookEvent.objects.get().processed_at is not None
    started.refresh_from_db()
    assert started.status == "captured"
