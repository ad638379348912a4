"""What the scenario's people do in Chromium, against the stack's gunicorn: each signs in through
the form in a browser context of their own (their own cookies), as four people at four desks
would."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from playwright.sync_api import Browser, BrowserContext, Page, expect

from invoices.models import Invoice
from tests.e2e.conftest import CSP_REPORTER, ConsoleLog, screenshot
from tests.e2e.scenario.world import PASSWORD

# The stack's pages render PDFs and call the sandbox on a busy machine: more than the journeys'
# five seconds, less than a hung request.
TIMEOUT_MS = 30_000


class Desks:
    """A browser context per person, all reporting to one console log."""

    def __init__(self, browser: Browser, site_url: str, console: ConsoleLog) -> None:
        self.browser = browser
        self.site_url = site_url
        self.console = console
        self.contexts: list[BrowserContext] = []

    @contextmanager
    def signed_in(self, username: str) -> Iterator[Page]:
        context = self.browser.new_context(
            base_url=self.site_url,
            viewport={"width": 1280, "height": 860},
            locale="en-GB",
            accept_downloads=True,
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        context.add_init_script(CSP_REPORTER)
        page = context.new_page()
        page.on("console", self.console.record)
        page.on("pageerror", lambda error: self.console.page_errors.append(str(error)))
        try:
            page.goto("/accounts/login/")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page.locator("details.usermenu > summary")).to_contain_text(
                re.compile(r"\S"), timeout=TIMEOUT_MS
            )
            yield page
            page.evaluate("0")  # a round trip delivers console events still on their way
        finally:
            context.close()


def messages(page: Page):
    return page.locator("ul.messages")


def approve_and_send(page: Page, invoice: Invoice) -> None:
    """A billing admin on the invoice's sheet: Approve, then Send to the billing email."""
    page.goto(f"/invoices/{invoice.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(invoice.number or "")
    page.get_by_role("region", name="Actions").get_by_role("button", name="Approve").click()
    expect(messages(page)).to_have_text("Approved.")
    send = page.locator("details.action-form").filter(
        has=page.locator("summary", has_text=re.compile(r"^Send$"))
    )
    send.locator("summary").click()
    expect(send.get_by_label("Recipient")).to_have_value("billing")
    send.get_by_role("button", name="Send").click()
    expect(messages(page)).to_have_text(
        f"{invoice.number} was sent to {invoice.tenant.billing_email}."
    )


def pay_now(page: Page, invoice: Invoice, amount: Decimal, vpa: str, shot: str) -> None:
    """A customer's owner pays ``amount`` of the invoice by UPI through the sandbox's checkout."""
    page.goto(f"/invoices/{invoice.pk}/")
    page.get_by_role("group").filter(has_text="Pay now").locator("summary").click()
    page.get_by_label("Amount to pay (₹)").fill(str(amount))
    page.get_by_role("button", name="Pay now").click()
    expect(page).to_have_url(re.compile(r"/sandbox/razorpay/checkout/order_\w+/"))
    expect(page.get_by_text(f"Invoice {invoice.number}")).to_be_visible()
    page.get_by_label("Phone").fill("9876543210")
    page.get_by_text("UPI", exact=True).click()
    page.get_by_label("UPI ID").fill(vpa)
    page.get_by_role("button", name=re.compile(r"^Pay ₹")).click()
    # Back on our sheet through the signed callback (the checkout's script posts it).
    expect(page).to_have_url(re.compile(rf"/invoices/{invoice.pk}/\?payment=\d+$"))
    expect(page.get_by_text("Payment received.")).to_be_visible()
    screenshot(page, shot)


def download(page: Page, name: str) -> bytes:
    export = page.get_by_role("navigation", name="Export")
    with page.expect_download() as info:
        export.get_by_role("link", name=name, exact=True).click()
    with open(info.value.path(), "rb") as handle:
        return handle.read()
