"""One invoice, four documents: the detail page, the tax invoice PDF, the CSV and the XLSX show the
same amounts to the paisa, for invoices with a discount, a round-off, intra-state tax (CGST +
SGST) and inter-state tax (IGST)."""

import csv
import html
import io
import re
from decimal import Decimal as D

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from pypdf import PdfReader

from invoices.models import Invoice
from invoices.services import LineData
from tests.conftest import client_for

S = Invoice.Status
AMOUNT = r"(-?₹[\d,]+\.\d{2})"
# What each document calls each amount (the CSV and XLSX share their headers).
LABELS = {
    "subtotal": ("Subtotal", "Subtotal", "Subtotal"),
    "discount": ("Discount", "Discount", "Discount"),
    "taxable_value": ("Taxable value", "Taxable value", "Taxable value"),
    "cgst": ("CGST", "CGST", "CGST"),
    "sgst": ("SGST", "SGST", "SGST/UTGST"),
    "igst": ("IGST", "IGST", "IGST"),
    "round_off": ("Round-off", "Round-off", "Round-off"),
    "total": ("Total", "Total", "Total"),
    "amount_paid": ("Paid", "Amount paid", "Paid"),
    "balance_due": ("Balance due", "Balance due", "Balance due"),
}


def rupees(text: str) -> D:
    return D(text.replace("₹", "").replace(",", ""))


def line(description: str, quantity: str, price: str) -> LineData:
    return LineData(description=description, quantity=D(quantity), unit_price=D(price), unit="hour")


@pytest.fixture
def invoices(make_invoice, acme, globex):
    intra = make_invoice(
        S.PARTIALLY_PAID,
        lines=[line("vCPU-hours", "333.3", "3.37"), line("Support", "1", "999.99")],
        discount=D("100.50"),
    )
    inter = make_invoice(
        S.SENT,
        tenant=globex,
        lines=[line("Object storage GB-months", "1234.567", "1.8"), line("GPU", "2.5", "181.13")],
        discount=D("12.84"),
    )
    return [intra, inter]


def from_page(client, invoice: Invoice) -> dict[str, D]:
    body = client.get(reverse("invoices:detail", args=[invoice.pk])).content.decode()
    summary = body[body.index('aria-label="Summary"') :]
    found = {}
    for key, (label, _, _) in LABELS.items():
        match = re.search(
            rf"<dt[^>]*>{re.escape(label)}</dt><dd[^>]*>(?:<strong>)?{AMOUNT}", summary
        )
        if match:
            found[key] = rupees(html.unescape(match.group(1)))
    if "discount" in found:
        found["discount"] = -found["discount"]  # shown as a deduction: -₹100.50
    return found


def from_pdf(client, invoice: Invoice) -> dict[str, D]:
    response = client.get(reverse("invoices:pdf", args=[invoice.pk]))
    assert response.status_code == 200
    content = b"".join(response.streaming_content) if response.streaming else response.content
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    found = {}
    for key, (_, label, _) in LABELS.items():
        match = re.search(rf"^{re.escape(label)}(?: @ [\d.]+%)? ?{AMOUNT}\s*$", text, re.M)
        if match:
            found[key] = rupees(match.group(1))
    if "discount" in found:
        found["discount"] = -found["discount"]  # shown as a deduction: -₹100.50
    return found


def from_csv(client, invoice: Invoice) -> dict[str, D]:
    response = client.get("/invoices/export", {"format": "csv"})
    rows = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    row = next(r for r in rows if r["Number"] == invoice.number)
    return {key: D(row[labels[2]]) for key, labels in LABELS.items()}


def from_xlsx(client, invoice: Invoice) -> dict[str, D]:
    response = client.get("/invoices/export", {"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(response.content))["Invoices"]
    table = list(sheet.iter_rows(values_only=True))
    header = table[0]
    row = next(r for r in table[1:] if r[0] == invoice.number)
    found = {}
    for key, labels in LABELS.items():
        value = row[header.index(labels[2])]
        assert isinstance(value, int | float), (key, value)
        found[key] = D(str(value)).quantize(D("0.01"))
    return found


def test_the_page_the_pdf_the_csv_and_the_xlsx_agree_to_the_paisa(invoices, finance):
    client = client_for(finance)
    intra, inter = invoices
    # The invoices exercise what can go wrong: a discount, a round-off, each kind of tax.
    assert intra.intra_state
    assert intra.cgst == intra.sgst > 0
    assert intra.igst == 0
    assert not inter.intra_state
    assert inter.igst > 0
    assert inter.cgst == inter.sgst == 0
    assert all(i.discount > 0 for i in invoices)
    # One total rounded up, one down: a sign lost anywhere shows.
    assert sorted(i.round_off > 0 for i in invoices) == [False, True], [
        i.round_off for i in invoices
    ]
    assert all(i.round_off != 0 for i in invoices)
    assert intra.amount_paid > 0
    assert intra.balance_due > 0

    for invoice in invoices:
        truth = {key: getattr(invoice, key) for key in LABELS}
        sheet_csv = from_csv(client, invoice)
        sheet_xlsx = from_xlsx(client, invoice)
        page = from_page(client, invoice)
        pdf = from_pdf(client, invoice)
        assert sheet_csv == truth
        assert sheet_xlsx == truth
        # The page and the PDF show the tax that applies (CGST + SGST, or IGST): every amount
        # they show is the invoice's, and none that applies is missing.
        shown = set(LABELS) - ({"igst"} if invoice.intra_state else {"cgst", "sgst"})
        assert shown <= set(page), (invoice, set(LABELS) - set(page))
        assert shown <= set(pdf), (invoice, set(LABELS) - set(pdf))
        assert {k: page[k] for k in shown} == {k: truth[k] for k in shown}
        assert {k: pdf[k] for k in shown} == {k: truth[k] for k in shown}
