"""Pay Now in Chromium: our page, the sandbox's checkout, the signed callback, the webhooks (twice
and out of order), all over real HTTP to the live server with the real razorpay SDK."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from invoices.models import Invoice, InvoiceEvent, OutboundEmail
from payments.models import Payment, WebhookEvent
from tests.e2e.conftest import screenshot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("demo")]

S = Invoice.Status


@pytest.fixture(autouse=True)
def _gateway_is_the_live_servers_sandbox(settings, live_server):
    settings.SITE_URL = live_server.url
    settings.RAZORPAY_MODE = "sandbox"
    settings.RAZORPAY_BASE_URL = f"{live_server.url}/sandbox/razorpay"
    settings.RAZORPAY_SANDBOX_WEBHOOK_URL = f"{live_server.url}/payments/razorpay/webhook"
    settings.RAZORPAY_SANDBOX_WEBHOOK_CHAOS = True


def acme_cloud_due() -> Invoice:
    """Acme Cloud's latest invoice: overdue, money due, Anita (acme-owner) its owner."""
    return Invoice.objects.filter(tenant__display_name="Acme Cloud").latest("issue_date")


def open_pay_now(page: Page, invoice: Invoice) -> None:
    sign_in(page, "acme-owner")
    page.goto(f"/invoices/{invoice.pk}/")
    page.get_by_role("group").filter(has_text="Pay now").locator("summary").click()


def test_acme_owner_pays_in_full_with_upi_and_returns_to_a_paid_invoice(page: Page):
    invoice = acme_cloud_due()
    assert invoice.status == S.OVERDUE
    assert invoice.balance_due > 0
    due = invoice.balance_due
    open_pay_now(page, invoice)
    page.get_by_role("button", name="Pay now").click()

    # The sandbox's checkout: merchant, invoice and amount, then UPI.
    expect(page).to_have_url(re.compile(r"/sandbox/razorpay/checkout/order_\w+/"))
    expect(page.get_by_text(f"Invoice {invoice.number}")).to_be_visible()
    page.get_by_label("Phone").fill("9876543210")
    page.get_by_text("UPI", exact=True).click()
    page.get_by_label("UPI ID").fill("anita@okhdfc")
    screenshot(page, "pay-now-checkout")
    page.get_by_role("button", name=re.compile(r"^Pay ₹")).click()

    # Back on our sheet, through the signed callback.
    expect(page).to_have_url(re.compile(rf"/invoices/{invoice.pk}/\?payment=\d+$"))
    expect(page.get_by_text("Payment received.")).to_be_visible()
    expect(page.locator("h1").get_by_text("Paid")).to_be_visible()
    screenshot(page, "pay-now-paid")

    invoice.refresh_from_db()
    payment = Payment.objects.get(invoice=invoice, method=Payment.Method.RAZORPAY)
    assert (invoice.status, invoice.balance_due) == (S.PAID, Decimal("0.00"))
    assert (payment.status, payment.amount, payment.gateway_method) == ("captured", due, "upi")
    assert invoice.events.filter(type=InvoiceEvent.Type.PAYMENT).count() == 1
    receipt = invoice.emails.get(kind=OutboundEmail.Kind.RECEIPT, step=f"payment-{payment.pk}")
    assert receipt.to == [invoice.tenant.billing_email]
    # Every event came twice; each was stored once and handled once.
    assert {e.deliveries for e in WebhookEvent.objects.all()} == {2}
    assert WebhookEvent.objects.filter(processed_at=None).count() == 0


def test_a_failed_payment_shows_its_reason_and_the_invoice_still_waits(page: Page):
    invoice = acme_cloud_due()
    open_pay_now(page, invoice)
    page.get_by_role("button", name="Pay now").click()
    page.get_by_label("Phone").fill("9876543210")
    page.get_by_text("UPI", exact=True).click()
    page.get_by_label("UPI ID").fill("anita@okhdfc")
    page.locator("details.sbx-fail summary").click()
    page.get_by_label(re.compile("reason|Failure", re.I)).select_option("bank_declined")
    page.get_by_role("button", name="Fail payment").click()

    expect(page).to_have_url(re.compile(rf"/invoices/{invoice.pk}/\?payment=\d+$"))
    expect(page.get_by_text("Payment failed:")).to_be_visible()
    expect(page.get_by_text("declined by your bank").first).to_be_visible()
    screenshot(page, "pay-now-failed")
    invoice.refresh_from_db()
    assert invoice.status == S.OVERDUE
    assert Payment.objects.get(invoice=invoice, method="razorpay").status == "failed"
