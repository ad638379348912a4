"""The payments page in the browser: the billing team filters the payments and reads the refunds,
a customer sees their own organisation's payments only, and the CSV export holds the rows shown.

The demo (invoices/demo.py) has manual payments by every method, Acme Retail's payments through
Razorpay (one of them a card the bank declined) and a goodwill refund on Acme Cloud; each journey
starts from a fresh copy of it and compares what the page shows with the database.
"""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.db.models import Sum
from playwright.sync_api import Locator, Page, expect

from billing_portal.lib.money import format_inr
from invoices.models import Invoice
from payments.models import Payment, Refund
from tests.e2e.conftest import main_nav, screenshot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("demo")]

P = Payment.Status


# --- Reading the page -------------------------------------------------------------------------


def rows(page: Page) -> Locator:
    return page.locator("table.payments tbody tr")


def listed_numbers(page: Page) -> list[str]:
    return page.locator("table.payments tbody a.mono").all_inner_texts()


def status_tab(page: Page, label: str) -> Locator:
    tabs = page.get_by_role("navigation", name="Status").get_by_role("link")
    return tabs.filter(has_text=re.compile(rf"^{re.escape(label)} \d+$"))


def kind_tab(page: Page, label: str) -> Locator:
    tabs = page.get_by_role("navigation", name="Payments or refunds")
    return tabs.get_by_role("link", name=label, exact=True)


def summary_figure(page: Page, kind: str, label: str) -> Locator:
    summary = page.get_by_role("region", name=f"Summary of the {kind} shown")
    term = page.locator("span", has_text=re.compile(rf"^{re.escape(label)}$"))
    return summary.locator("div").filter(has=term).locator("strong")


def expect_payment_summary(page: Page, payments) -> None:
    """The summary bar adds up ``payments`` (the rows shown) as the database does."""
    payments = list(payments)
    captured = [p for p in payments if p.status == P.CAPTURED]
    amount = sum((p.amount for p in captured), Decimal(0))
    refunded = sum((p.amount_refunded for p in captured), Decimal(0))
    expect(summary_figure(page, "payments", "Captured")).to_have_text(format_inr(amount))
    expect(summary_figure(page, "payments", "Refunded")).to_have_text(format_inr(refunded))
    expect(summary_figure(page, "payments", "Net received")).to_have_text(
        format_inr(amount - refunded)
    )
    expect(summary_figure(page, "payments", "Payments")).to_have_text(str(len(payments)))


def export_csv(page: Page) -> list[dict[str, str]]:
    """Click Export CSV and read the file the browser downloaded."""
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    assert re.fullmatch(r"payments-\d{8}\.csv", download.suggested_filename)
    with open(download.path(), encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(io.StringIO(handle.read())))


def numbers_of(payments) -> list[str]:
    return sorted(p.invoice.display_number for p in payments)


# --- 1. The billing team's list ---------------------------------------------------------------


def test_finance_filters_payments_to_the_failed_razorpay_attempt_and_exports_it(page: Page):
    sign_in(page, "finance")
    main_nav(page).get_by_text("Payments", exact=True).click()
    expect(page).to_have_url(re.compile(r"/payments/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Payments")
    expect(main_nav(page).get_by_text("Payments", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    expect(kind_tab(page, "Payments")).to_have_attribute("aria-current", "page")

    # Everything at first: every payment of every tenant, added up as the database adds them.
    everything = Payment.objects.select_related("invoice")
    assert everything.count() < 25, "the demo's payments fit on the first page"
    expect(rows(page)).to_have_count(everything.count())
    assert sorted(listed_numbers(page)) == numbers_of(everything)
    expect(status_tab(page, "All")).to_have_text(f"All {everything.count()}")
    expect_payment_summary(page, everything)
    screenshot(page, "payments-list-finance")

    # Razorpay only: Acme Retail's Pay Now attempts, the declined card among them.
    razorpay = everything.filter(method=Payment.Method.RAZORPAY)
    assert razorpay.count() >= 2
    assert {p.tenant.display_name for p in razorpay} == {"Acme Retail"}
    page.get_by_label("Method").select_option(label="Razorpay")
    expect(page).to_have_url(re.compile(r"/payments/\?.*method=razorpay"))
    expect(rows(page)).to_have_count(razorpay.count())
    assert sorted(listed_numbers(page)) == numbers_of(razorpay)
    expect(page.locator("table.payments tbody td.text")).to_have_text(
        ["Acme Retail"] * razorpay.count()
    )
    expect_payment_summary(page, razorpay)

    # And Failed: exactly the demo's one declined attempt, with the gateway's reason.
    failed = Payment.objects.select_related("invoice").get(status=P.FAILED)
    assert failed.method == Payment.Method.RAZORPAY
    assert failed.failure_reason
    expect(status_tab(page, "Failed")).to_have_text("Failed 1")
    status_tab(page, "Failed").click()
    expect(page).to_have_url(re.compile(r"method=razorpay"))
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(status_tab(page, "Failed")).to_have_attribute("aria-current", "page")
    expect(rows(page)).to_have_count(1)
    row = rows(page).first
    expect(row.get_by_role("link", name=failed.invoice.display_number)).to_be_visible()
    expect(row).to_contain_text("Acme Retail")
    expect(row).to_contain_text(format_inr(failed.amount))
    expect(row).to_contain_text("Failed")
    expect(row.locator("small.bad-note")).to_have_text(failed.failure_reason)
    expect(summary_figure(page, "payments", "Captured")).to_have_text(format_inr(0))
    expect(summary_figure(page, "payments", "Payments")).to_have_text("1")
    screenshot(page, "payments-list-failed")

    # The export holds exactly the row the page shows.
    exported = export_csv(page)
    assert [r["Payment ID"] for r in exported] == [str(failed.pk)]
    assert exported[0]["Status"] == "Failed"
    assert exported[0]["Method"] == "Razorpay"
    assert exported[0]["Failure reason"] == failed.failure_reason
    assert exported[0]["Invoice number"] == failed.invoice.number
    assert Decimal(exported[0]["Amount (INR)"]) == failed.amount

    # Clear: every payment again, and the figures of them all.
    page.get_by_role("link", name="Clear").click()
    expect(page).to_have_url(re.compile(r"/payments/$"))
    expect(page.get_by_label("Method")).to_have_value("")
    expect(status_tab(page, "All")).to_have_attribute("aria-current", "page")
    expect(rows(page)).to_have_count(everything.count())
    expect_payment_summary(page, everything)
    totals = Payment.objects.filter(status=P.CAPTURED).aggregate(
        amount=Sum("amount"), refunded=Sum("amount_refunded")
    )
    expect(summary_figure(page, "payments", "Net received")).to_have_text(
        format_inr(totals["amount"] - totals["refunded"])
    )


# --- 2. Refunds -------------------------------------------------------------------------------


def test_finance_reads_the_demo_refund_on_the_refunds_tab(page: Page):
    sign_in(page, "finance")
    main_nav(page).get_by_text("Payments", exact=True).click()
    kind_tab(page, "Refunds").click()
    expect(page).to_have_url(re.compile(r"/payments/\?kind=refunds$"))
    expect(kind_tab(page, "Refunds")).to_have_attribute("aria-current", "page")
    expect(page).to_have_title(re.compile(r"^Refunds"))

    refund = Refund.objects.select_related("invoice__tenant", "payment").get()
    assert refund.invoice.tenant.display_name == "Acme Cloud"
    assert refund.status == Refund.Status.PROCESSED
    expect(rows(page)).to_have_count(1)
    row = rows(page).first
    expect(row.get_by_role("link", name=refund.invoice.display_number)).to_be_visible()
    expect(row).to_contain_text("Acme Cloud")
    expect(row.locator("td.num")).to_have_text(format_inr(refund.amount))
    expect(row).to_contain_text(refund.reason)
    expect(row).to_contain_text("Processed")
    expect(row).to_contain_text(refund.payment.get_method_display())
    expect(status_tab(page, "Processed")).to_have_text("Processed 1")
    expect(summary_figure(page, "refunds", "Refunded")).to_have_text(format_inr(refund.amount))
    expect(summary_figure(page, "refunds", "Refunds")).to_have_text("1")
    # The payment it came off shows what was refunded, back on the Payments tab.
    screenshot(page, "payments-refunds-finance")
    kind_tab(page, "Payments").click()
    expect(page).to_have_url(re.compile(r"/payments/\??$"))  # an empty query: "?" or nothing
    expect(kind_tab(page, "Payments")).to_have_attribute("aria-current", "page")
    refunded_row = rows(page).filter(
        has=page.get_by_role("link", name=refund.invoice.display_number, exact=True)
    )
    expect(refunded_row.locator("td.num").nth(1)).to_have_text(format_inr(refund.amount))


# --- 3. A customer's own payments -------------------------------------------------------------


def test_acme_owner_sees_only_acme_clouds_payments_and_exports_them(page: Page):
    sign_in(page, "acme-owner")
    expect(page.get_by_label("Organisation").locator("option:checked")).to_have_text("Acme Cloud")
    main_nav(page).get_by_text("Payments", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Payments")

    own = Payment.objects.filter(tenant__display_name="Acme Cloud").select_related("invoice")
    assert own.exists()
    others = Invoice.objects.exclude(tenant__display_name="Acme Cloud").exclude(number=None)
    other_numbers = {i.display_number for i in others}
    assert other_numbers, "the demo has other tenants' issued invoices"

    expect(rows(page)).to_have_count(own.count())
    shown = listed_numbers(page)
    assert sorted(shown) == numbers_of(own)
    assert not other_numbers & set(shown)
    # A customer's page has no Customer column, no customer filter and no review figures.
    expect(page.get_by_role("columnheader", name="Customer")).to_have_count(0)
    expect(page.get_by_role("columnheader", name="Recorded by")).to_have_count(0)
    expect(page.get_by_label("Customer")).to_have_count(0)
    expect(page.locator("table.payments tbody")).not_to_contain_text("Acme Retail")
    expect_payment_summary(page, own)
    screenshot(page, "payments-list-acme-owner")

    # Their export: their rows, without the billing team's columns.
    exported = export_csv(page)
    assert sorted(r["Payment ID"] for r in exported) == sorted(str(p.pk) for p in own)
    assert {r["Customer"] for r in exported} == {"Acme Cloud"}
    assert not other_numbers & {r["Invoice number"] for r in exported}
    for column in ("Needs review", "Gateway order ID", "Note", "Recorded by"):
        assert column not in exported[0]
