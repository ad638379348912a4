"""The GST tax invoice PDF: what an accountant, the customer and CGST Rule 46 look for in it.

Text is read back from the PDF with pypdf, as an auditor's tool would; whitespace is collapsed
(``flat``) or removed (``squash``) because table cells wrap.
"""

import datetime
import hashlib
import io
import re
import socket
import threading
from decimal import Decimal

import pypdf
import pytest
from django.core import mail
from django.urls import reverse

from billing_portal.lib import pdfrender
from billing_portal.lib.pdfrender import PdfRenderError, render_pdf
from invoices import pdf, services, tasks
from invoices.models import Invoice, InvoiceLine, IssuedPdf, OutboundEmail
from invoices.services import LineData
from tests.factories import TenantFactory, make_gstin
from tests.invoices.builders import reload

S = Invoice.Status

LINES = (
    LineData(
        description="Standard plan - monthly fee",
        quantity=Decimal("1"),
        unit_price=Decimal("25000.00"),
        kind=InvoiceLine.Kind.RECURRING,
        unit="month",
    ),
    LineData(
        description="Object storage, ap-south-1",
        quantity=Decimal("1234.5"),
        unit_price=Decimal("1.20"),
        kind=InvoiceLine.Kind.ONE_TIME,
        unit="GB-month",
        sac_code="998315",
    ),
)
# 25,000.00 + 1,481.40 = 26,481.40 taxable. Intra-state: 9% + 9% = 2,383.33 each (2,383.326),
# 31,248.06 -> 31,248.00; inter-state: 18% = 4,766.65 (4,766.652), 31,248.05 -> 31,248.00.
PERIOD = (datetime.date(2026, 10, 1), datetime.date(2026, 10, 31))


def text_of(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    return " ".join(text.split())


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture
def provider(db):
    from tests.factories import ProviderProfileFactory

    return ProviderProfileFactory(
        trade_name="Cirrus Cloud",
        address_line2="Hinjawadi Phase 1",
        phone="+91 20 4000 1234",
        bank_account_name="Cirrus Cloud Services Pvt Ltd",
        bank_name="HDFC Bank",
        bank_account_number="50200012345678",
        bank_ifsc="HDFC0000123",
        bank_branch="Baner, Pune",
    )


@pytest.fixture
def issue(provider, billing_admin):
    """A sent tax invoice for ``tenant``, issued through the services as a billing admin would."""

    def issue(tenant, *, lines=LINES, status=S.SENT, notes="", kind=Invoice.Kind.SUBSCRIPTION):
        invoice = services.invoice_create(
            tenant=tenant,
            lines=lines,
            actor=billing_admin,
            kind=kind,
            period_start=PERIOD[0],
            period_end=PERIOD[1],
            notes=notes,
        )
        if status == S.DRAFT:
            return reload(invoice)
        services.invoice_finalize(invoice=invoice, actor=billing_admin)
        if status == S.SENT:
            services.invoice_send(invoice=invoice, actor=billing_admin)
        return reload(invoice)

    return issue


def test_intra_state_invoice_shows_every_rule_46_particular(issue, acme):
    invoice = issue(acme)
    text = flat(text_of(pdf.invoice_pdf(invoice=invoice)))

    # (a) supplier: name, address, GSTIN
    assert "Cirrus Cloud Services Private Limited" in text
    assert "Panchshil Tech Park Hinjawadi Phase 1 Pune 411006" in text
    assert "GSTIN 27AAHCC4821K1ZJ" in text
    # (b), (c) a consecutive number of at most 16 characters and the date of issue
    assert re.fullmatch(r"CRS/\d{4}/00001", invoice.number)
    assert f"Invoice number {invoice.number}" in text
    assert f"Invoice date {invoice.issue_date:%d %b %Y}" in text
    # (d) the registered recipient: name, address, GSTIN
    assert "Acme Cloud Private Limited" in text or acme.legal_name in text
    assert acme.address_line1 in text
    assert f"GSTIN {acme.gstin}" in text
    # (f) place of supply with its state name and code
    assert "Place of supply Maharashtra (State code 27)" in text
    # (g)-(i) per line: description, SAC, quantity and unit, rate, taxable value
    assert squash("Standard plan - monthly fee 998315 1 month ₹25,000.00") in squash(text)
    assert squash("Object storage, ap-south-1 998315 1,234.5 GB-month ₹1.20 ₹1,481.40") in squash(
        text
    )
    # (j), (k) the rate and amount of CGST and SGST, and the total in figures and words
    assert "CGST @ 9% ₹2,383.33" in text
    assert "SGST @ 9% ₹2,383.33" in text
    assert "IGST" not in text
    assert "Taxable value ₹26,481.40" in text
    assert "Round-off -₹0.06" in text
    assert "Total ₹31,248.00" in text
    assert "Rupees Thirty-One Thousand Two Hundred Forty-Eight Only" in text
    # (p) reverse charge, and the computer-generated line in place of a signature
    assert "Tax payable on reverse charge No" in text
    assert "This is a computer-generated invoice and needs no signature." in text
    # and what the customer needs to pay it
    assert "Billing period 01 Oct 2026 to 31 Oct 2026" in text
    assert f"Due date {invoice.due_date:%d %b %Y}" in text
    assert "Amount paid ₹0.00" in text
    assert "Balance due ₹31,248.00" in text
    assert "Account number 50200012345678" in text
    assert "IFSC HDFC0000123" in text
    assert "TAX INVOICE" in text


def test_the_pdf_shows_the_numbers_the_invoice_holds(issue, acme):
    """Same rounding helper as the pages: every stored amount appears as format_inr shows it."""
    from billing_portal.lib.money import format_inr

    invoice = issue(acme)
    text = flat(text_of(pdf.invoice_pdf(invoice=invoice)))
    for field in ("subtotal", "taxable_value", "cgst", "sgst", "round_off", "total"):
        assert format_inr(getattr(invoice, field)) in text, field
    for line in invoice.lines.all():
        assert format_inr(line.taxable_value) in text
        assert format_inr(line.cgst) in text


def test_inter_state_invoice_charges_igst_at_the_full_rate(issue, globex):
    invoice = issue(globex)
    text = flat(text_of(pdf.invoice_pdf(invoice=invoice)))
    assert "Place of supply Karnataka (State code 29)" in text
    assert f"GSTIN {globex.gstin}" in text
    assert "IGST @ 18% ₹4,766.65" in text
    assert "CGST" not in text
    assert "SGST" not in text
    assert "Total ₹31,248.00" in text
    assert "Round-off -₹0.05" in text
    assert "Rupees Thirty-One Thousand Two Hundred Forty-Eight Only" in text


def test_a_union_territory_supply_charges_utgst_not_sgst(issue, provider):
    provider.state = "04"
    provider.gstin = make_gstin("04", "AAHCC4821K")
    provider.city, provider.pin_code = "Chandigarh", "160017"
    provider.save()
    tenant = TenantFactory(
        display_name="Sukhna Labs", state="04", gstin=make_gstin("04", "AAGCS1234K")
    )
    text = flat(text_of(pdf.invoice_pdf(invoice=issue(tenant))))
    assert "Place of supply Chandigarh (State code 04)" in text
    assert "CGST @ 9% ₹2,383.33" in text
    assert "UTGST @ 9% ₹2,383.33" in text
    assert "SGST" not in text.replace("UTGST", "")


def test_an_unregistered_recipient_is_identified_by_state_name_and_code(issue):
    tenant = TenantFactory(display_name="Marina Startups", state="33", gstin="", city="Chennai")
    text = flat(text_of(pdf.invoice_pdf(invoice=issue(tenant))))
    assert "STATE Tamil Nadu (State code 33)" in text
    assert "GSTIN Unregistered" in text
    assert "Place of supply Tamil Nadu (State code 33)" in text
    assert "IGST @ 18%" in text


def test_issued_details_survive_a_later_profile_change(issue, acme):
    invoice = issue(acme)
    acme.legal_name = "Renamed Later Ltd"
    acme.save()
    text = flat(text_of(pdf.invoice_pdf(invoice=reload(invoice))))
    assert "Renamed Later Ltd" not in text
    assert invoice.customer["legal_name"] in text


# --- Payment marks and the issued copy ------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "mark", "paid", "balance"),
    [
        (S.PAID, "PAID", "₹1,180.00", "₹0.00"),
        (S.PARTIALLY_PAID, "PARTIALLY PAID", "₹500.00", "₹680.00"),
        (S.VOIDED, "VOID", "₹0.00", None),
        (S.REFUNDED, "REFUNDED", "₹1,180.00", None),
    ],
)
def test_the_download_carries_the_current_payment_mark(make_invoice, status, mark, paid, balance):
    invoice = make_invoice(status)
    text = flat(text_of(pdf.invoice_pdf(invoice=invoice)))
    assert mark in text.split(" Cirrus")[0] or f" {mark} " in f" {text} "
    assert f"Amount paid {paid}" in text
    if balance:
        assert f"Balance due {balance}" in text
    if status == S.VOIDED:
        assert "Voided on" in text
        assert "Raised in error" in text
    if status == S.REFUNDED:
        assert "Refunded ₹1,180.00" in text


def test_an_unpaid_invoice_has_no_mark(make_invoice):
    text = flat(text_of(pdf.invoice_pdf(invoice=make_invoice(S.SENT))))
    for mark in ("PAID", "VOID", "REFUNDED", "DRAFT"):
        assert mark not in text
    assert "Balance due ₹1,180.00" in text


def test_the_issued_copy_is_kept_byte_for_byte_while_downloads_show_payments(make_invoice):
    invoice = make_invoice(S.SENT)
    issued = pdf.issued_pdf(invoice=invoice)
    assert pdf.invoice_pdf(invoice=invoice) == issued  # nothing happened since: the same bytes
    kept = IssuedPdf.objects.get(invoice=invoice)
    assert bytes(kept.content) == issued
    assert kept.sha256 == hashlib.sha256(issued).hexdigest()

    make_invoice.pay(invoice, invoice.total)
    invoice = reload(invoice)
    assert invoice.status == S.PAID
    current = pdf.invoice_pdf(invoice=invoice)
    assert current != issued
    assert "PAID" in text_of(current)
    assert "PAID" not in text_of(issued)
    assert pdf.issued_pdf(invoice=invoice) == issued
    assert IssuedPdf.objects.filter(invoice=invoice).count() == 1


def test_finalizing_keeps_the_issued_copy_after_commit(
    make_invoice, billing_admin, django_capture_on_commit_callbacks
):
    invoice = make_invoice(S.DRAFT)
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_finalize(invoice=invoice, actor=billing_admin)
    kept = IssuedPdf.objects.get(invoice=invoice)
    assert reload(invoice).number in text_of(bytes(kept.content))


def test_a_failed_render_does_not_fail_the_finalization(
    make_invoice, billing_admin, django_capture_on_commit_callbacks, monkeypatch
):
    def broken(html, **kwargs):
        raise PdfRenderError("the PDF took longer than 20 s to render")

    monkeypatch.setattr(pdf, "render_pdf", broken)
    invoice = make_invoice(S.DRAFT)
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_finalize(invoice=invoice, actor=billing_admin)
    assert reload(invoice).status == S.PENDING
    assert not IssuedPdf.objects.filter(invoice=invoice).exists()


def test_a_draft_preview_says_it_is_not_a_tax_invoice(make_invoice):
    text = flat(text_of(pdf.invoice_pdf(invoice=make_invoice(S.DRAFT))))
    assert "DRAFT" in text
    assert "Not a tax invoice" in text
    assert "TAX INVOICE" not in text
    with pytest.raises(ValueError, match="draft"):
        pdf.issued_pdf(invoice=make_invoice(S.DRAFT))


def test_file_names_follow_the_invoice_number(make_invoice):
    invoice = make_invoice(S.SENT)
    assert pdf.invoice_pdf_filename(invoice) == invoice.number.replace("/", "-") + ".pdf"
    draft = make_invoice(S.DRAFT)
    assert pdf.invoice_pdf_filename(draft) == f"draft-{draft.pk}.pdf"


def test_a_hundred_lines_flow_onto_more_pages_with_the_header_repeated(issue, acme):
    lines = [
        LineData(description=f"Virtual machine vm-{i:03d}", quantity=Decimal("720"),
                 unit_price=Decimal("2.5"), unit="vCPU-hour")
        for i in range(100)
    ]  # fmt: skip
    content = pdf.invoice_pdf(invoice=issue(acme, lines=lines))
    reader = pypdf.PdfReader(io.BytesIO(content))
    assert len(reader.pages) >= 3
    for page in reader.pages:
        page_text = flat(page.extract_text())
        assert "Taxable value" in page_text  # the table's header on every page
        assert re.search(r"Page \d+", page_text)
    text = flat(text_of(content))
    # No serial-number column: each line is one row with its particulars, in the invoice's order.
    rows = [
        squash(f"vm-{i:03d} 998315 720 vCPU-hour ₹2.50 ₹1,800.00 ₹162.00 ₹162.00")
        for i in range(100)
    ]
    positions = [squash(text).find(row) for row in rows]
    assert -1 not in positions, [i for i, at in enumerate(positions) if at == -1]
    assert positions == sorted(positions)
    assert "Total ₹2,12,400.00" in text  # 100 x 1,800 = 1,80,000 + 18%


def test_a_usage_invoice_has_a_page_of_service_level_charges(acme, plan, provider, billing_admin):
    from invoices import generation
    from usage.models import Meter, Subscription, UsageRecord

    Subscription.objects.create(tenant=acme, plan=plan, starts_on=datetime.date(2026, 1, 1))
    vcpu = Meter.objects.get(code="vcpu_hours")
    for key, (resource, name, region, quantity) in enumerate(
        [
            ("vm-web-1", "web-1", "ap-south-1", "600"),
            ("vm-web-1", "web-1", "ap-south-1", "150"),
            ("vm-db-1", "<b>db-primary</b>", "ap-south-2", "250"),
        ]
    ):
        start = datetime.datetime(2026, 10, 3 + key, 10, tzinfo=generation.IST)
        UsageRecord.objects.create(
            tenant=acme,
            meter=vcpu,
            resource_id=resource,
            resource_name=name,
            region=region,
            quantity=Decimal(quantity),
            window_start=start,
            window_end=start + datetime.timedelta(hours=1),
            idempotency_key=f"k{key}",
        )
    draft = generation.generate_invoice(tenant=acme, period=generation.Period.month("2026-10"))
    services.invoice_finalize(invoice=draft, actor=billing_admin)
    reader = pypdf.PdfReader(io.BytesIO(pdf.invoice_pdf(invoice=reload(draft))))
    assert len(reader.pages) == 2
    annex = flat(reader.pages[1].extract_text())
    assert "service-level charges" in annex
    # The meter's line with its charge, then each resource's usage (largest first) and share.
    assert "vCPU-hours 1000 × ₹1.2 1,000 vCPU-hour ₹1,200.00" in annex
    assert "web-1 vm-web-1 ap-south-1 2 750 75%" in annex
    assert "<b>db-primary</b> vm-db-1 ap-south-2 1 250 25%" in annex
    assert annex.index("web-1") < annex.index("db-primary")


def test_an_invoice_without_linked_usage_has_no_annexure(make_invoice):
    reader = pypdf.PdfReader(io.BytesIO(pdf.invoice_pdf(invoice=make_invoice(S.SENT))))
    assert len(reader.pages) == 1
    assert "service-level" not in reader.pages[0].extract_text()


# --- Injection: user text stays text ---------------------------------------------------------


class Listener:
    """A TCP listener on loopback that counts connections: a renderer that fetched a URL
    pointing here would show up as a connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def listener():
    listening = Listener()
    yield listening
    listening.close()


def payloads(port: int) -> list[str]:
    return [
        "<img src=file:///etc/passwd>",
        '<a href="file:///etc/passwd" rel="attachment">invoice.txt</a>',
        f'<img src="http://127.0.0.1:{port}/tracker.png">',
        "<img src=http://169.254.169.254/latest/meta-data/>",
        f"<style>@import url(http://127.0.0.1:{port}/x.css);</style>",
        '<div style="width:99999999px;height:99999999px;font-size:9999999px">BIG</div>',
        "<script>document.write('x')</script>{{ invoice.tenant }}{% now 'Y' %}",
    ]


def pdf_features(content: bytes) -> dict[str, object]:
    reader = pypdf.PdfReader(io.BytesIO(content))
    images = sum(len(page.images) for page in reader.pages)
    annots = sum(len(page.get("/Annots") or []) for page in reader.pages)
    return {
        "pages": len(reader.pages),
        "images": images,
        "links": annots,
        "attachments": list(reader.attachments),
    }


def test_hostile_line_descriptions_change_nothing_but_the_text(issue, acme, listener):
    one_time = Invoice.Kind.ONE_TIME
    plain = issue(acme, lines=[LineData("Plain text", Decimal("1"), Decimal("100"))] * 7)
    hostile = issue(
        acme,
        kind=one_time,
        lines=[LineData(p, Decimal("1"), Decimal("100")) for p in payloads(listener.port)],
        notes="</p><img src=file:///etc/hostname>",
    )
    plain_pdf = pdf.invoice_pdf(invoice=plain)
    hostile_pdf = pdf.invoice_pdf(invoice=hostile)

    text = squash(text_of(hostile_pdf))
    for payload in payloads(listener.port):
        assert squash(payload) in text  # shown, literally, as the description
    assert squash("</p><img src=file:///etc/hostname>") in text
    assert "root:" not in text_of(hostile_pdf)
    assert pdf_features(hostile_pdf) == pdf_features(plain_pdf)
    assert pdf_features(hostile_pdf)["images"] == 0
    assert listener.connections == 0


def test_the_renderer_fetches_nothing_but_the_projects_static_files(listener, tmp_path):
    """Even HTML that was not escaped (a template bug) cannot reach files, the network or the
    cloud metadata service, nor attach anything: the renderer's URL fetcher refuses."""
    port = listener.port
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    html = f"""<html><head>
      <link rel="stylesheet" href="http://127.0.0.1:{port}/evil.css">
      <link rel="attachment" href="file://{secret}">
      <style>@import url("http://127.0.0.1:{port}/import.css");
             @import url("file://{secret}");
             body {{ background: url("http://169.254.169.254/latest/meta-data/") }}</style>
      </head><body>
      <p>Visible</p>
      <img src="file://{secret}"><img src="file:///etc/passwd">
      <img src="http://127.0.0.1:{port}/a.png"><img src="https://localhost:{port}/b.png">
      <img src="data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' width='9'/>">
      <img src="../../pyproject.toml"><img src="css/../../pyproject.toml">
      <object data="file://{secret}"></object><iframe src="file://{secret}"></iframe>
      <a rel="attachment" href="file://{secret}">a</a>
    </body></html>"""
    content = render_pdf(html)
    features = pdf_features(content)
    assert features["images"] == 0
    assert features["attachments"] == []
    assert "Visible" in text_of(content)
    assert b"TOP-SECRET-CONTENT" not in content
    assert listener.connections == 0


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://127.0.0.1:8000/static/css/pdf.css",
        "http://169.254.169.254/latest/meta-data/",
        "http://pdf-static.invalid/etc/passwd",
        "http://pdf-static.invalid/static/../pyproject.toml",
        "http://pdf-static.invalid/static/%2e%2e/pyproject.toml",
        "http://pdf-static.invalid/static/js/portal.js",
        "https://pdf-static.invalid/static/css/pdf.css",
        "data:text/css,body{}",
    ],
)
def test_the_fetcher_refuses_anything_but_a_static_file(url, settings):
    with pytest.raises(ValueError, match="refused"):
        pdfrender._static_file(settings.BASE_DIR / "static", url)


def test_the_fetcher_serves_the_invoice_stylesheet(settings):
    body, mime = pdfrender._static_file(
        settings.BASE_DIR / "static", "http://pdf-static.invalid/static/css/pdf.css"
    )
    assert mime == "text/css"
    assert b"@page" in body


def test_a_render_that_takes_too_long_is_stopped_and_the_next_one_works():
    slow = "<table>" + "<tr><td>x</td><td>y</td></tr>" * 60_000 + "</table>"
    with pytest.raises(PdfRenderError, match="longer than"):
        render_pdf(slow, timeout=0.5)
    assert "after" in text_of(render_pdf("<p>after</p>"))


def test_a_render_that_needs_too_much_memory_is_refused(settings):
    pdfrender.shutdown()  # the limit is set when a renderer starts
    settings.PDF_RENDER_MEMORY_MB = 40
    try:
        huge = "<p>" + "word " * 4_000_000 + "</p>"
        with pytest.raises(PdfRenderError):
            render_pdf(huge, timeout=60)
    finally:
        pdfrender.shutdown()
    settings.PDF_RENDER_MEMORY_MB = pdfrender.DEFAULT_MEMORY_MB
    assert "fine" in text_of(render_pdf("<p>fine</p>"))


def test_the_renderer_says_when_fonts_would_be_subset_by_fonttools(monkeypatch, capsys):
    from weasyprint.text import ffi

    monkeypatch.setattr(ffi, "harfbuzz_subset", object())  # the library loaded
    pdfrender._warn_without_harfbuzz_subset()
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(ffi, "harfbuzz_subset", None)  # not found: fontTools subsets
    pdfrender._warn_without_harfbuzz_subset()
    assert "install libharfbuzz-subset0" in capsys.readouterr().err


# --- The download page ----------------------------------------------------------------------


def url_of(invoice: Invoice, **query: str) -> str:
    base = reverse("invoices:pdf", args=[invoice.pk])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.mark.parametrize("who", ["owner", "viewer", "member_admin", "billing_admin", "finance"])
def test_people_who_may_read_the_invoice_download_its_pdf(make_invoice, as_user, who, request):
    invoice = make_invoice(S.SENT)
    response = as_user(request.getfixturevalue(who)).get(url_of(invoice))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    filename = invoice.number.replace("/", "-") + ".pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert invoice.number in text_of(response.content)


def test_another_tenants_invoice_answers_404_like_a_missing_one(make_invoice, as_user, other_owner):
    invoice = make_invoice(S.SENT)
    client = as_user(other_owner)
    assert client.get(url_of(invoice)).status_code == 404
    assert client.get(reverse("invoices:pdf", args=[999_999])).status_code == 404


def test_customers_cannot_download_what_was_not_sent_to_them(make_invoice, as_user, owner):
    client = as_user(owner)
    assert client.get(url_of(make_invoice(S.DRAFT))).status_code == 404
    assert client.get(url_of(make_invoice(S.PENDING))).status_code == 404


def test_a_draft_preview_is_for_those_who_prepare_drafts(
    make_invoice, as_user, billing_admin, finance
):
    draft = make_invoice(S.DRAFT)
    assert as_user(finance).get(url_of(draft)).status_code == 403
    response = as_user(billing_admin).get(url_of(draft))
    assert response.status_code == 200
    assert "DRAFT" in text_of(response.content)


def test_signed_out_visitors_are_sent_to_sign_in(make_invoice, client):
    response = client.get(url_of(make_invoice(S.SENT)))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_issued_copy_can_be_downloaded_after_payment(make_invoice, as_user, owner):
    invoice = make_invoice(S.PAID)
    client = as_user(owner)
    current = client.get(url_of(invoice)).content
    original = client.get(url_of(invoice, copy="issued")).content
    assert "PAID" in text_of(current)
    assert "PAID" not in text_of(original)
    assert original == bytes(IssuedPdf.objects.get(invoice=invoice).content)


def test_a_failed_render_answers_503_and_asks_to_retry(make_invoice, as_user, owner, monkeypatch):
    def broken(html, **kwargs):
        raise PdfRenderError("the PDF renderer stopped (out of memory or crashed)")

    monkeypatch.setattr(pdf, "render_pdf", broken)
    response = as_user(owner).get(url_of(make_invoice(S.PAID)))
    assert response.status_code == 503
    assert response["Retry-After"] == "60"


def test_the_detail_page_and_the_list_link_to_the_pdf(make_invoice, as_user, owner):
    invoice = make_invoice(S.SENT)
    client = as_user(owner)
    link = f'href="{url_of(invoice)}"'
    assert link in client.get(reverse("invoices:detail", args=[invoice.pk])).content.decode()
    assert link in client.get(reverse("invoices:list")).content.decode()


# --- The "invoice sent" email ---------------------------------------------------------------


def test_the_invoice_sent_email_attaches_the_issued_pdf(make_invoice, billing_admin, acme):
    invoice = make_invoice(S.PENDING)
    services.invoice_send(invoice=invoice, actor=billing_admin)
    queued = OutboundEmail.objects.get(invoice=invoice, kind=OutboundEmail.Kind.INVOICE_SENT)
    assert tasks.deliver_email.delay(queued.pk).get() == "sent"
    (message,) = mail.outbox
    assert message.to == [acme.billing_email]
    ((filename, content, mimetype),) = message.attachments
    assert filename == invoice.number.replace("/", "-") + ".pdf"
    assert mimetype == "application/pdf"
    assert content == bytes(IssuedPdf.objects.get(invoice=invoice).content)
    assert invoice.number in text_of(content)


def test_reminders_carry_no_attachment(make_invoice, billing_admin):
    invoice = make_invoice(S.SENT)
    email = services.invoice_remind(invoice=invoice, actor=billing_admin)
    assert email is not None
    tasks.deliver_email.delay(email.pk).get()
    reminder = next(m for m in mail.outbox if m.to == email.to and m.subject == email.subject)
    assert reminder.attachments == []


def test_an_email_whose_pdf_fails_is_retried_not_sent_bare(
    make_invoice, billing_admin, monkeypatch
):
    def broken(html, **kwargs):
        raise PdfRenderError("the PDF took longer than 20 s to render")

    monkeypatch.setattr(pdf, "render_pdf", broken)
    invoice = make_invoice(S.PENDING)
    services.invoice_send(invoice=invoice, actor=billing_admin)
    queued = OutboundEmail.objects.get(invoice=invoice, kind=OutboundEmail.Kind.INVOICE_SENT)
    assert tasks.deliver_email.delay(queued.pk).get() == "will retry"
    queued.refresh_from_db()
    assert queued.status == OutboundEmail.Status.QUEUED
    assert queued.last_error.startswith("PDF:")
    assert mail.outbox == []
