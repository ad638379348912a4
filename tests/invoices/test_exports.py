"""Exports of the invoice list: CSV, XLSX and the PDF report hold exactly the rows the list shows,
with numbers a spreadsheet can add, formulas neutralised, and each user's tenant scope."""

import csv
import datetime
import io
import shutil
import subprocess
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from openpyxl import load_workbook
from pypdf import PdfReader

from invoices.models import Invoice
from invoices.services import LineData
from tests.conftest import client_for
from tests.factories import MembershipFactory, UserFactory

S = Invoice.Status
EXPORT = "/invoices/export"
INJECTIONS = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]


def line(description: str, quantity: str, price: str, rate: str = "18") -> LineData:
    return LineData(
        description=description,
        quantity=D(quantity),
        unit_price=D(price),
        unit="hour",
        sac_code="998315",
        tax_rate=D(rate),
    )


@pytest.fixture
def invoices(make_invoice, acme, globex):
    """Acme (Maharashtra, like the provider: CGST + SGST) and Globex (Karnataka: IGST), with a
    discount and paise that round off; a draft and a voided one the totals leave out."""
    return {
        "acme_paid": make_invoice(
            S.PAID, lines=[line("vCPU-hours", "333.3", "3.37"), line("Support", "1", "999.99")]
        ),
        "acme_sent": make_invoice(
            S.SENT, lines=[line("GPU-hours", "12.5", "181.13")], discount=D("100.50")
        ),
        "acme_draft": make_invoice(S.DRAFT, lines=[line("Egress GB", "10", "4.5")]),
        "acme_voided": make_invoice(S.VOIDED, lines=[line("Mistake", "1", "5000")]),
        "globex_part": make_invoice(
            S.PARTIALLY_PAID, tenant=globex, lines=[line("Object storage", "1234.567", "1.8")]
        ),
    }


def csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def workbook(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    content = response.getvalue() if not response.streaming else b"".join(response)
    return load_workbook(io.BytesIO(content))


def listed(client, **params) -> list[Invoice]:
    response = client.get(reverse("invoices:list"), {**params, "size": 100})
    return list(response.context["page"])


class TestCsv:
    def test_the_csv_holds_the_lists_rows_in_its_order(self, invoices, finance):
        client = client_for(finance)
        rows = csv_rows(client.get(EXPORT, {"format": "csv", "sort": "total"}))
        assert [r["Number"] for r in rows] == [i.number or "" for i in listed(client, sort="total")]
        assert len(rows) == 5

    def test_amounts_are_plain_numbers_and_dates_iso(self, invoices, finance):
        rows = csv_rows(client_for(finance).get(EXPORT, {"format": "csv"}))
        sent = invoices["acme_sent"]
        row = next(r for r in rows if r["Number"] == sent.number)
        assert row["Total"] == str(sent.total)
        assert row["Discount"] == "100.50"
        assert row["Issue date"] == sent.issue_date.isoformat()
        assert row["Status"] == "Sent"
        assert row["Customer GSTIN"] == sent.customer["gstin"]
        assert row["Place of supply"] == "27-Maharashtra"
        assert D(row["CGST"]) == sent.cgst > 0
        assert D(row["IGST"]) == 0

    def test_filters_are_honoured(self, invoices, finance, globex):
        client = client_for(finance)
        rows = csv_rows(client.get(EXPORT, {"format": "csv", "status": ["sent", "paid"]}))
        assert {r["Number"] for r in rows} == {
            invoices["acme_sent"].number,
            invoices["acme_paid"].number,
        }
        rows = csv_rows(client.get(EXPORT, {"format": "csv", "tenant": globex.pk}))
        assert [r["Number"] for r in rows] == [invoices["globex_part"].number]
        rows = csv_rows(client.get(EXPORT, {"format": "csv", "q": "GPU"}))
        assert [r["Number"] for r in rows] == [invoices["acme_sent"].number]

    def test_a_bad_filter_is_refused_rather_than_ignored(self, invoices, finance):
        response = client_for(finance).get(EXPORT, {"format": "csv", "total_min": "lots"})
        assert response.status_code == 400

    def test_formulas_are_neutralised(self, make_invoice, acme, finance):
        acme.display_name = INJECTIONS[0]
        acme.save()
        make_invoice(S.SENT, lines=[line(text, "1", "10") for text in INJECTIONS[1:]])
        client = client_for(finance)
        rows = csv_rows(client.get(EXPORT, {"format": "csv"}))
        assert rows[0]["Customer"] == "'" + INJECTIONS[0]
        lines = csv_rows(client.get(EXPORT, {"format": "csv", "table": "lines"}))
        assert [r["Description"] for r in lines] == ["'" + text for text in INJECTIONS[1:]]
        assert {r["Customer"] for r in lines} == {"'" + INJECTIONS[0]}


class TestXlsx:
    def test_numbers_dates_header_autofilter_and_totals(self, invoices, finance):
        book = workbook(client_for(finance).get(EXPORT, {"format": "xlsx"}))
        sheet = book["Invoices"]
        rows = list(sheet.iter_rows())
        header = [c.value for c in rows[0]]
        assert header[:3] == ["Number", "Customer", "Customer GSTIN"]
        assert all(c.font.bold for c in rows[0])
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == f"A1:U{len(rows) - 1}"  # the data, not the totals
        col = {name: i for i, name in enumerate(header)}
        data, totals = rows[1:-1], rows[-1]
        assert len(data) == 5
        sent = invoices["acme_sent"]
        row = next(r for r in data if r[col["Number"]].value == sent.number)
        total_cell = row[col["Total"]]
        assert isinstance(total_cell.value, int | float)
        assert D(str(total_cell.value)) == sent.total
        assert "₹" in total_cell.number_format
        issued = row[col["Issue date"]]
        assert isinstance(issued.value, datetime.datetime)
        assert issued.value.date() == sent.issue_date
        assert issued.is_date

        # The totals row adds up the issued invoices only, as the list's summary bar does.
        assert all(c.font.bold for c in totals if c.value is not None)
        assert totals[0].value.startswith("Total of issued invoices")
        summary = client_for(finance).get(reverse("invoices:list")).context["summary"]
        assert D(str(totals[col["Total"]].value)) == summary.invoiced
        assert D(str(totals[col["Paid"]].value)) == summary.paid
        assert D(str(totals[col["Balance due"]].value)) == summary.balance
        issued_total = sum(
            (i.total for i in invoices.values() if i.status not in (S.DRAFT, S.VOIDED)), D(0)
        )
        assert summary.invoiced == issued_total

    def test_formulas_are_neutralised(self, make_invoice, acme, finance):
        acme.display_name = INJECTIONS[0]
        acme.save()
        make_invoice(S.SENT, lines=[line(text, "1", "10") for text in INJECTIONS[1:]])
        client = client_for(finance)
        sheet = workbook(client.get(EXPORT, {"format": "xlsx"}))["Invoices"]
        cell = sheet["B2"]
        assert cell.value == "'" + INJECTIONS[0]
        assert cell.data_type == "s"  # text, not a formula
        lines = workbook(client.get(EXPORT, {"format": "xlsx", "table": "lines"}))
        sheet = lines["Invoice lines"]
        header = [c.value for c in sheet[1]]
        descriptions = [r[header.index("Description")].value for r in sheet.iter_rows(min_row=2)][
            :-1
        ]
        assert descriptions == ["'" + text for text in INJECTIONS[1:]]
        assert all(
            c.data_type != "f" for row in sheet.iter_rows() for c in row if c.value is not None
        )

    def test_the_about_sheet_names_the_filters(self, invoices, finance):
        book = workbook(client_for(finance).get(EXPORT, {"format": "xlsx", "status": "paid"}))
        about = {r[0].value: r[1].value for r in book["About"].iter_rows()}
        assert about["Filters"] == "status=paid"
        assert about["Exported by"] in ("farhan", finance.get_full_name())


class TestLines:
    def test_one_row_per_line_with_each_tax_component(self, invoices, finance):
        rows = csv_rows(client_for(finance).get(EXPORT, {"format": "csv", "table": "lines"}))
        by_invoice: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            by_invoice.setdefault(row["Invoice number"], []).append(row)
        paid = invoices["acme_paid"]
        assert len(by_invoice[paid.number]) == 2
        vcpu = by_invoice[paid.number][0]
        assert vcpu["Description"] == "vCPU-hours"
        assert vcpu["SAC/HSN"] == "998315"
        assert (vcpu["Quantity"], vcpu["Unit"], vcpu["Rate"]) == ("333.3", "hour", "3.37")
        assert (vcpu["CGST rate (%)"], vcpu["SGST rate (%)"], vcpu["IGST rate (%)"]) == (
            "9",
            "9",
            "0",
        )
        line_obj = paid.lines.order_by("position")[0]
        assert D(vcpu["Taxable value"]) == line_obj.taxable_value
        assert D(vcpu["CGST"]) == line_obj.cgst
        assert D(vcpu["Line total"]) == line_obj.taxable_value + line_obj.tax
        # Globex is in Karnataka: IGST at the full rate, nothing else.
        (storage,) = by_invoice[invoices["globex_part"].number]
        assert (storage["CGST"], storage["SGST"], storage["UTGST"]) == ("0.00", "0.00", "0.00")
        assert storage["IGST rate (%)"] == "18"
        assert storage["Place of supply"] == "29-Karnataka"
        # The lines of each invoice add up to its taxable value and tax.
        for invoice in invoices.values():
            if not invoice.number:
                continue
            its = by_invoice[invoice.number]
            assert sum(D(r["Taxable value"]) for r in its) == invoice.taxable_value
            assert sum(D(r["CGST"]) + D(r["SGST"]) + D(r["UTGST"]) + D(r["IGST"]) for r in its) == (
                invoice.cgst + invoice.sgst + invoice.igst
            )

    def test_the_lines_follow_the_lists_filters(self, invoices, finance, globex):
        rows = csv_rows(
            client_for(finance).get(
                EXPORT, {"format": "csv", "table": "lines", "tenant": globex.pk}
            )
        )
        assert {r["Invoice number"] for r in rows} == {invoices["globex_part"].number}


class TestPdfReport:
    def test_the_report_lists_the_rows_and_their_totals(self, invoices, finance):
        response = client_for(finance).get(EXPORT, {"format": "pdf", "status": "paid"})
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        text = " ".join(
            page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages
        )
        paid = invoices["acme_paid"]
        assert paid.number in text
        assert "Total of issued invoices" in text
        from billing_portal.lib.money import format_inr

        assert format_inr(paid.total) in text
        assert invoices["acme_sent"].number not in text


class TestWhoExportsWhat:
    def test_a_customer_exports_their_own_sent_invoices_only(self, invoices, owner, viewer, globex):
        for user in (owner, viewer):
            rows = csv_rows(client_for(user).get(EXPORT, {"format": "csv", "tenant": globex.pk}))
            numbers = {r["Number"] for r in rows}
            # Never the draft; the voided one was sent before it was voided, so it is theirs.
            assert numbers == {
                invoices[k].number for k in ("acme_paid", "acme_sent", "acme_voided")
            }

    def test_the_other_tenant_sees_none_of_acmes(self, invoices, other_owner):
        rows = csv_rows(client_for(other_owner).get(EXPORT, {"format": "csv"}))
        assert [r["Number"] for r in rows] == [invoices["globex_part"].number]

    def test_someone_of_no_organisation_gets_404(self, invoices):
        loner = UserFactory(username="loner")
        assert client_for(loner).get(EXPORT, {"format": "csv"}).status_code == 404

    def test_staff_without_the_export_permission_get_403(self, invoices, finance):
        finance.groups.get().permissions.remove(Permission.objects.get(codename="export_invoice"))
        client = client_for(finance)
        assert client.get(EXPORT, {"format": "csv"}).status_code == 403
        assert "Export what is shown" not in client.get(reverse("invoices:list")).content.decode()

    def test_anonymous_is_sent_to_sign_in(self, invoices, client):
        assert client.get(EXPORT, {"format": "csv"}).status_code == 302

    @pytest.mark.parametrize("params", [{"format": "ods"}, {"table": "payments"}])
    def test_what_it_cannot_answer_is_refused(self, invoices, finance, params):
        assert client_for(finance).get(EXPORT, params).status_code == 400

    def test_the_list_links_to_exports_of_its_filters(self, invoices, finance):
        body = (
            client_for(finance)
            .get(reverse("invoices:list"), {"status": "paid", "q": "vCPU", "page": "1"})
            .content.decode()
        )
        assert f'href="{EXPORT}?status=paid&amp;q=vCPU&amp;format=xlsx"' in body
        assert f'href="{EXPORT}?status=paid&amp;q=vCPU&amp;format=csv&amp;table=lines"' in body


class TestBulk:
    def test_the_selected_rows_as_xlsx(self, invoices, finance):
        chosen = [invoices["acme_paid"], invoices["globex_part"]]
        response = client_for(finance).post(
            reverse("invoices:bulk"), {"action": "export_xlsx", "ids": [i.pk for i in chosen]}
        )
        sheet = workbook(response)["Invoices"]
        numbers = [r[0].value for r in sheet.iter_rows(min_row=2)][:-1]
        assert sorted(numbers) == sorted(i.number for i in chosen)

    def test_a_customer_cannot_use_bulk_exports(self, invoices, owner):
        response = client_for(owner).post(
            reverse("invoices:bulk"),
            {"action": "export_csv", "ids": [invoices["acme_paid"].pk]},
        )
        assert response.status_code == 403


def test_a_member_of_two_tenants_exports_the_active_one(invoices, other_owner, acme, globex):
    MembershipFactory(tenant=acme, user=other_owner, role="viewer")
    client = client_for(other_owner)
    session = client.session
    session["active_tenant_id"] = globex.pk
    session.save()
    rows = csv_rows(client.get(EXPORT, {"format": "csv"}))
    assert [r["Number"] for r in rows] == [invoices["globex_part"].number]
    session["active_tenant_id"] = acme.pk
    session.save()
    rows = csv_rows(client.get(EXPORT, {"format": "csv"}))
    assert {r["Customer"] for r in rows} == {"Acme Cloud"}


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.skipif(SOFFICE is None, reason="needs LibreOffice (apt-get install libreoffice-calc)")
def test_a_spreadsheet_program_opens_the_xlsx_and_shows_the_same_amounts(
    invoices, finance, tmp_path
):
    """LibreOffice Calc, headless, opens the export and saves what it shows as CSV."""
    response = client_for(finance).get(EXPORT, {"format": "xlsx"})
    content = response.getvalue() if not response.streaming else b"".join(response)
    book = tmp_path / "invoices.xlsx"
    book.write_bytes(content)
    subprocess.run(  # noqa: S603 - our own arguments
        [
            SOFFICE,
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            "--convert-to",
            "csv",
            "--outdir",
            str(tmp_path),
            str(book),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    shown = list(csv.reader((tmp_path / "invoices.csv").read_text(encoding="utf-8").splitlines()))
    header, data, totals = shown[0], shown[1:-1], shown[-1]
    col = {name: i for i, name in enumerate(header)}
    assert len(data) == 5

    def amount(text: str) -> D:
        return D(text.replace("₹", "").replace(",", "").strip())

    for invoice in invoices.values():
        if invoice.number is None:
            continue
        (row,) = [r for r in data if r[col["Number"]] == invoice.number]
        assert amount(row[col["Total"]]) == invoice.total
        # A date cell shows as a date, not as the serial number underneath.
        assert "/" in row[col["Issue date"]] or "-" in row[col["Issue date"]]
    summary = client_for(finance).get(reverse("invoices:list")).context["summary"]
    assert amount(totals[col["Total"]]) == summary.invoiced
