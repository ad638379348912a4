"""Finance exports the filtered invoice list: the CSV and the XLSX the browser downloads hold the
rows on screen, and their totals equal the list's summary bar."""

import csv
import io
import re
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from invoices.models import Invoice
from tests.e2e.conftest import screenshot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("demo")]

S = Invoice.Status
NOT_ISSUED = ("Draft", "Voided")


def rupees(text: str) -> Decimal:
    return Decimal(text.strip().replace("₹", "").replace(",", ""))


def summary(page: Page) -> dict[str, Decimal]:
    region = page.get_by_role("region", name="Summary of the invoices shown")
    figures = {}
    for label in ("Invoiced", "Paid", "Balance due"):
        cell = region.locator("div").filter(has=page.get_by_text(label, exact=True))
        figures[label] = rupees(cell.locator("strong").inner_text())
    figures["Invoices"] = Decimal(
        region.locator("div")
        .filter(has=page.get_by_text("Invoices", exact=True))
        .locator("strong")
        .inner_text()
    )
    return figures


def download(page: Page, name: str) -> tuple[str, bytes]:
    export = page.get_by_role("navigation", name="Export")
    with page.expect_download() as info:
        export.get_by_role("link", name=name, exact=True).click()
    file = info.value
    with open(file.path(), "rb") as handle:
        return file.suggested_filename, handle.read()


def test_finance_filters_the_list_and_the_csv_and_xlsx_add_up_to_its_summary(page: Page):
    sign_in(page, "finance")
    page.goto("/invoices/")
    # Two status tabs and a date preset: a filtered list, not everything.
    page.get_by_role("navigation", name="Status").get_by_role(
        "link", name=re.compile("^Paid ")
    ).click()
    expect(page).to_have_url(re.compile(r"status=paid"))
    page.get_by_role("navigation", name="Status").get_by_role(
        "link", name=re.compile("^Overdue ")
    ).click()
    expect(page).to_have_url(re.compile(r"status=paid&status=overdue"))
    page.get_by_label("Date").select_option("this_year")
    expect(page).to_have_url(re.compile(r"period=this_year"))
    shown = summary(page)
    assert shown["Invoices"] > 0
    on_screen = page.locator("table.invoices tbody a.mono").all_inner_texts()
    screenshot(page, "exports-filtered-list")

    name, content = download(page, "CSV")
    assert re.fullmatch(r"invoices-\d{8}\.csv", name)
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
    assert len(rows) == shown["Invoices"]
    assert [r["Number"] for r in rows][: len(on_screen)] == on_screen
    assert {r["Status"] for r in rows} <= {"Paid", "Overdue"}
    issued = [r for r in rows if r["Status"] not in NOT_ISSUED]
    assert sum(Decimal(r["Total"]) for r in issued) == shown["Invoiced"]
    assert sum(Decimal(r["Paid"]) for r in rows) == shown["Paid"]
    assert sum(Decimal(r["Balance due"]) for r in issued) == shown["Balance due"]

    name, content = download(page, "XLSX")
    assert re.fullmatch(r"invoices-\d{8}\.xlsx", name)
    sheet = load_workbook(io.BytesIO(content))["Invoices"]
    table = list(sheet.iter_rows(values_only=True))
    header, body, totals = table[0], table[1:-1], table[-1]
    assert len(body) == shown["Invoices"]
    assert [r[0] for r in body] == [r["Number"] for r in rows]
    assert str(totals[0]).startswith("Total of issued invoices")
    for label, column in (("Invoiced", "Total"), ("Paid", "Paid"), ("Balance due", "Balance due")):
        assert (
            Decimal(str(totals[header.index(column)])).quantize(Decimal("0.01")) == shown[label]
        ), label
