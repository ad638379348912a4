"""Downloading the tax invoice PDF in the browser, from the detail page and from the list.

The demo's provider (Cirrus, Maharashtra) bills Acme Cloud (Maharashtra: CGST + SGST) and Globex
Analytics (Karnataka: IGST); the downloaded file is read back with pypdf.
"""

import io
import re

import pypdf
import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from invoices.models import Invoice
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("demo")]

S = Invoice.Status


def text_of(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def download(page: Page, link) -> tuple[str, bytes]:
    with page.expect_download() as info:
        link.click()
    file = info.value
    path = file.path()
    return file.suggested_filename, path.read_bytes()


def test_a_customer_downloads_the_tax_invoice_from_the_detail_page(page: Page):
    invoice = (
        Invoice.objects.filter(tenant__display_name="Acme Cloud", sent_at__isnull=False)
        .exclude(status=S.VOIDED)
        .latest("issue_date")
    )
    sign_in(page, "acme-owner")
    page.goto(reverse("invoices:detail", args=[invoice.pk]))
    filename, content = download(page, page.get_by_role("link", name="Download PDF"))

    assert filename == invoice.number.replace("/", "-") + ".pdf"
    assert content.startswith(b"%PDF-")
    text = text_of(content)
    assert "TAX INVOICE" in text
    assert f"Invoice number {invoice.number}" in text
    assert f"GSTIN {invoice.supplier['gstin']}" in text
    assert f"GSTIN {invoice.customer['gstin']}" in text
    assert "Place of supply Maharashtra (State code 27)" in text
    assert "CGST @ 9%" in text
    assert "SGST @ 9%" in text
    assert "IGST" not in text
    assert "Tax payable on reverse charge No" in text
    assert re.search(r"Total ₹[\d,]+\.00", text)
    assert re.search(r"Rupees [A-Z][A-Za-z -]+ Only", text)
    assert "This is a computer-generated invoice and needs no signature." in text


def test_staff_download_an_inter_state_invoice_from_the_list(page: Page):
    invoice = (
        Invoice.objects.filter(tenant__display_name="Globex Analytics")
        .exclude(status__in=[S.DRAFT, S.VOIDED])
        .latest("issue_date")
    )
    sign_in(page, "finance")
    page.goto(reverse("invoices:list") + f"?q={invoice.number}")
    link = page.get_by_role("link", name=f"Download the PDF of {invoice.number}")
    expect(link).to_be_visible()
    filename, content = download(page, link)
    assert filename == invoice.number.replace("/", "-") + ".pdf"
    text = text_of(content)
    assert "Place of supply Karnataka (State code 29)" in text
    assert "IGST @ 18%" in text
    assert "CGST" not in text


def test_another_tenants_pdf_is_not_found(page: Page):
    acme = Invoice.objects.filter(tenant__display_name="Acme Cloud", sent_at__isnull=False).first()
    assert acme is not None
    sign_in(page, "globex-owner")
    response = page.request.get(reverse("invoices:pdf", args=[acme.pk]))
    assert response.status == 404
    assert not response.body().startswith(b"%PDF")
