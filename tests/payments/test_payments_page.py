"""The payments page (/payments/) and its exports: who sees which rows, every filter, the
summary to the paisa, the refunds tab, and an export (at once, or as an export job when large)
that holds exactly the page's rows."""

import csv
import datetime
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from exports.models import ExportJob
from invoices.models import Invoice
from payments.models import Payment, Refund
from payments.services import payment_record_manual, refund_record
from tests.conftest import client_for
from tests.exports.conftest import download, queue, sheet_rows
from tests.factories import UserFactory

D = Decimal
S = Invoice.Status
IST = ZoneInfo("Asia/Kolkata")
NOW = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=IST)
INJECTION = '=HYPERLINK("http://evil.example","click")'
EXPORT = "/payments/export"


def at(day: str, time: str = "12:00") -> datetime.datetime:
    return datetime.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=IST)


@pytest.fixture(autouse=True)
def _today():
    # Every date below is relative to 21 November 2026 in India (tick=False: exact bounds).
    with time_machine.travel(NOW, tick=False):
        yield


def gateway(invoice, amount, *, status, pay, method="upi", created, **fields):
    """A Razorpay payment as the gateway code leaves it (the page only reads them)."""
    payment = Payment.objects.create(
        invoice=invoice,
        tenant=invoice.tenant,
        amount=D(amount),
        method=Payment.Method.RAZORPAY,
        status=status,
        gateway_order_id=f"order_{pay}",
        gateway_payment_id=f"pay_{pay}",
        gateway_method=method,
        captured_at=created if status == Payment.Status.CAPTURED else None,
        **fields,
    )
    return dated(payment, created)


def dated(payment, when):
    Payment.objects.filter(pk=payment.pk).update(created_at=when)
    return payment


class Data:
    """Acme: a part payment by NEFT (₹200.25 of it refunded), a captured UPI payment, a failed
    card payment and a captured payment waiting for review. Globex: a cheque whose reference is
    a spreadsheet formula, a payment still processing and a refund pending at the gateway."""

    def __init__(self, make_invoice, acme, globex, billing_admin):
        self.acme_invoice = make_invoice(S.SENT)
        self.globex_invoice = make_invoice(S.SENT, tenant=globex)
        self.neft = payment_record_manual(
            invoice=self.acme_invoice,
            amount=D("500.00"),
            method=Payment.Method.NEFT,
            reference="UTR0042",
            received_on=NOW.date(),
            actor=billing_admin,
        )
        self.neft_refund = refund_record(
            invoice=self.acme_invoice,
            payment=self.neft,
            amount=D("200.25"),
            reason="Paid twice for the same month",
            actor=billing_admin,
        )
        self.upi = gateway(
            self.acme_invoice, "679.45", status="captured", pay="AcmeUpi1", created=at("2026-11-02")
        )
        self.failed = gateway(
            self.acme_invoice,
            "1180.00",
            status="failed",
            pay="AcmeCard1",
            method="card",
            created=at("2026-10-15"),
            failure_reason="Card declined by the issuing bank",
        )
        self.review = gateway(
            self.acme_invoice,
            "1180.00",
            status="captured",
            pay="AcmeNb1",
            method="netbanking",
            created=at("2026-10-31", "23:30"),  # still October in India (18:00 UTC)
            review_reason="Captured after the invoice was paid: refund or credit it",
        )
        self.cheque = payment_record_manual(
            invoice=self.globex_invoice,
            amount=D("999.99"),
            method=Payment.Method.CHEQUE,
            reference=INJECTION,
            received_on=NOW.date(),
            actor=billing_admin,
        )
        self.processing = gateway(
            self.globex_invoice,
            "180.01",
            status="processing",
            pay="GlxWallet1",
            method="wallet",
            created=at("2026-11-01", "00:15"),  # November in India, still October in UTC
        )
        self.pending_refund = Refund.objects.create(
            payment=self.cheque,
            invoice=self.globex_invoice,
            amount=D("50.00"),
            status=Refund.Status.PENDING,
            reason="Overcharged for storage",
            gateway_refund_id="rfnd_Glx1",
        )
        dated(self.neft, at("2026-11-21", "10:00"))
        dated(self.cheque, at("2026-11-20"))
        Refund.objects.filter(pk=self.neft_refund.pk).update(created_at=at("2026-11-21", "11:00"))
        Refund.objects.filter(pk=self.pending_refund.pk).update(
            created_at=at("2026-11-20", "15:00")
        )

    @property
    def acme(self):
        return {self.neft.pk, self.upi.pk, self.failed.pk, self.review.pk}

    @property
    def globex(self):
        return {self.cheque.pk, self.processing.pk}


@pytest.fixture
def data(make_invoice, acme, globex, billing_admin):
    return Data(make_invoice, acme, globex, billing_admin)


def listed(client, **params) -> set[int]:
    response = client.get(reverse("payments:list"), params)
    assert response.status_code == 200
    return {row.pk for row in response.context["page"]}


def exported(client, **params) -> list[dict[str, str]]:
    response = client.get(reverse("payments:export"), {"format": "csv", **params})
    assert response.status_code == 200, response.content
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


class TestWhoSeesWhat:
    def test_staff_see_every_tenants_payments_newest_first(self, data, finance):
        response = client_for(finance).get(reverse("payments:list"))
        rows = list(response.context["page"])
        assert {p.pk for p in rows} == data.acme | data.globex
        assert [p.pk for p in rows] == [
            data.neft.pk,
            data.cheque.pk,
            data.upi.pk,
            data.processing.pk,
            data.review.pk,
            data.failed.pk,
        ]
        body = response.content.decode()
        assert "Globex Analytics" in body
        assert "Acme Cloud" in body

    def test_a_customer_sees_their_organisation_only_whatever_tenant_they_name(
        self, data, owner, globex
    ):
        client = client_for(owner)
        assert listed(client) == data.acme
        assert listed(client, tenant=globex.pk) == data.acme
        assert listed(client, q="GlxWallet1") == set()
        body = client.get(reverse("payments:list")).content.decode()
        assert 'name="tenant"' not in body
        assert "Globex" not in body

    def test_a_customer_sees_no_staff_internals(self, data, viewer):
        body = client_for(viewer).get(reverse("payments:list")).content.decode()
        assert "pay_AcmeNb1" in body  # on their receipt
        assert "order_AcmeNb1" not in body
        assert "Needs review" not in body
        assert data.review.review_reason not in body
        assert "Card declined by the issuing bank" in body  # why their payment failed
        assert "Recorded by" not in body

    def test_staff_see_the_review_mark_with_its_reason(self, data, billing_admin):
        body = client_for(billing_admin).get(reverse("payments:list")).content.decode()
        assert f'<span title="{data.review.review_reason}">' in body
        assert 'data-status="needs_review"' in body
        assert "order_AcmeNb1" in body
        assert "UPI" in body
        assert "Netbanking" in body

    def test_the_invoice_number_links_to_the_invoice(self, data, finance):
        body = client_for(finance).get(reverse("payments:list")).content.decode()
        url = reverse("invoices:detail", args=[data.acme_invoice.pk])
        assert f'href="{url}">{data.acme_invoice.number}</a>' in body

    def test_staff_without_the_payments_permission_are_refused(self, data):
        group = Group.objects.create(name="Support")
        group.permissions.add(Permission.objects.get(codename="view_tenant"))
        support = UserFactory(username="sam")
        support.groups.add(group)
        client = client_for(support)
        assert client.get(reverse("payments:list")).status_code == 403
        assert client.get(reverse("payments:export")).status_code == 403

    def test_a_person_without_an_organisation_gets_404(self, db):
        loner = client_for(UserFactory(username="loner"))
        assert loner.get(reverse("payments:list")).status_code == 404
        assert loner.get(reverse("payments:export")).status_code == 404

    @pytest.mark.parametrize("name", ["payments:list", "payments:export"])
    def test_anonymous_is_sent_to_sign_in(self, name):
        response = Client().get(reverse(name))
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


class TestFilters:
    def test_status_is_repeatable(self, data, finance):
        client = client_for(finance)
        assert listed(client, status="failed") == {data.failed.pk}
        assert listed(client, status=["failed", "processing"]) == {
            data.failed.pk,
            data.processing.pk,
        }

    def test_method(self, data, finance):
        client = client_for(finance)
        assert listed(client, method="cheque") == {data.cheque.pk}
        assert listed(client, method="razorpay") == {
            data.upi.pk,
            data.failed.pk,
            data.review.pk,
            data.processing.pk,
        }

    def test_the_review_link_of_the_admin_email(self, data, billing_admin):
        client = client_for(billing_admin)
        assert listed(client, review="1") == {data.review.pk}
        response = client.get(reverse("payments:list"), {"review": "1"})
        assert 'name="review" value="1" checked' in response.content.decode()

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"period": "this_month"}, {"neft", "cheque", "upi", "processing"}),
            ({"period": "last_month"}, {"failed", "review"}),
            (
                {"period": "this_quarter"},
                {"neft", "cheque", "upi", "processing", "failed", "review"},
            ),
            ({"period": "last_quarter"}, set()),
            (
                {"period": "custom", "from": "2026-10-31", "to": "2026-11-01"},
                {"review", "processing"},
            ),
            ({"from": "2026-11-20"}, {"neft", "cheque"}),  # from/to alone: a custom range
            ({"to": "2026-10-31"}, {"failed", "review"}),
            ({"period": "last_month", "date_field": "settled"}, {"review"}),  # captured in Oct
        ],
    )
    def test_dates_are_days_in_india(self, data, finance, params, expected):
        assert listed(client_for(finance), **params) == {getattr(data, n).pk for n in expected}

    def test_tenant(self, data, finance, acme, globex):
        client = client_for(finance)
        assert listed(client, tenant=acme.pk) == data.acme
        assert listed(client, tenant=globex.pk) == data.globex

    @pytest.mark.parametrize(
        ("q", "expected"),
        [
            ("utr0042", {"neft"}),
            ("order_AcmeCard1", {"failed"}),
            ("pay_GlxWallet", {"processing"}),
            ("HYPERLINK", {"cheque"}),
        ],
    )
    def test_search_looks_in_references_and_gateway_ids(self, data, finance, q, expected):
        assert listed(client_for(finance), q=q) == {getattr(data, n).pk for n in expected}

    def test_search_finds_the_invoice_number(self, data, finance):
        number = data.globex_invoice.number
        assert listed(client_for(finance), q=number) == data.globex

    def test_filters_combine(self, data, finance, acme):
        client = client_for(finance)
        params = {"tenant": acme.pk, "method": "razorpay", "period": "this_month"}
        assert listed(client, **params) == {data.upi.pk}

    def test_a_bad_filter_value_is_shown_and_ignored(self, data, finance):
        response = client_for(finance).get(reverse("payments:list"), {"from": "yesterday"})
        assert "from" in response.context["filter"].form.errors
        assert len(response.context["page"]) == 6

    def test_the_customer_dropdown_loads_its_options_when_opened(self, data, finance, acme):
        client = client_for(finance)
        page = client.get(reverse("payments:list")).content.decode()
        assert reverse("tenants:options") in page
        assert '<option value="">All customers</option>' in page
        chosen = client.get(reverse("payments:list"), {"tenant": acme.pk}).content.decode()
        assert f'<option value="{acme.pk}" selected>Acme Cloud</option>' in chosen


class TestSummary:
    def test_totals_to_the_paisa_and_counts_by_status(self, data, finance):
        summary = client_for(finance).get(reverse("payments:list")).context["summary"]
        # Captured: 500.00 + 679.45 + 1,180.00 + 999.99; refunded: 200.25 of the NEFT payment.
        assert summary.amounts == [
            ("Captured", D("3359.44"), "ok"),
            ("Refunded", D("200.25"), "bad"),
            ("Net received", D("3159.19"), ""),
        ]
        assert summary.status_counts == {"created": 0, "processing": 1, "captured": 4, "failed": 1}
        assert (summary.count, summary.all_count, summary.review) == (6, 6, 1)

    def test_totals_follow_the_filters_and_tabs_count_beside_the_chosen_one(
        self, data, finance, acme
    ):
        response = client_for(finance).get(
            reverse("payments:list"), {"tenant": acme.pk, "status": "failed"}
        )
        summary = response.context["summary"]
        assert summary.amounts[0] == ("Captured", D("0.00"), "ok")
        assert summary.count == 1
        assert summary.status_counts == {"created": 0, "processing": 0, "captured": 3, "failed": 1}
        assert summary.all_count == 4

    def test_a_customers_totals_are_their_own(self, data, owner):
        response = client_for(owner).get(reverse("payments:list"))
        summary = response.context["summary"]
        assert summary.amounts[0] == ("Captured", D("2359.45"), "ok")
        assert summary.amounts[2] == ("Net received", D("2159.20"), "")
        assert "₹2,359.45" in response.content.decode()


class TestRefunds:
    def test_staff_see_every_refund_with_its_status(self, data, finance):
        client = client_for(finance)
        assert listed(client, kind="refunds") == {data.neft_refund.pk, data.pending_refund.pk}
        assert listed(client, kind="refunds", status="pending") == {data.pending_refund.pk}
        response = client.get(reverse("payments:list"), {"kind": "refunds"})
        body = response.content.decode()
        assert "rfnd_Glx1" in body
        assert "Overcharged for storage" in body
        assert response.context["summary"].amounts == [
            ("Refunded", D("200.25"), "bad"),
            ("Pending at the gateway", D("50.00"), "warn"),
            ("Failed", D("0.00"), ""),
        ]

    def test_refund_filters_look_through_the_payment(self, data, finance, globex):
        client = client_for(finance)
        assert listed(client, kind="refunds", method="neft") == {data.neft_refund.pk}
        assert listed(client, kind="refunds", tenant=globex.pk) == {data.pending_refund.pk}
        assert listed(client, kind="refunds", q="utr0042") == {data.neft_refund.pk}
        assert listed(client, kind="refunds", q="rfnd_glx") == {data.pending_refund.pk}
        assert listed(client, kind="refunds", period="custom", to="2026-11-20") == {
            data.pending_refund.pk
        }

    def test_a_customer_sees_their_own_refunds(self, data, owner, other_owner, globex):
        assert listed(client_for(owner), kind="refunds", tenant=globex.pk) == {data.neft_refund.pk}
        assert listed(client_for(other_owner), kind="refunds") == {data.pending_refund.pk}

    def test_the_refunds_export(self, data, finance):
        rows = exported(client_for(finance), kind="refunds")
        assert [r["Refund ID"] for r in rows] == [
            str(data.neft_refund.pk),
            str(data.pending_refund.pk),
        ]
        first = rows[0]
        assert first["Amount (INR)"] == "200.25"
        assert first["Status"] == "Processed"
        assert first["Invoice number"] == data.acme_invoice.number
        assert first["Payment reference"] == "UTR0042"
        assert first["Created at"] == "2026-11-21T11:00:00+05:30"
        assert first["Recorded by"] == "asha"
        assert rows[1]["Payment reference"] == "'" + INJECTION


class TestExport:
    def test_the_export_holds_the_pages_rows_in_its_order(self, data, finance, acme):
        client = client_for(finance)
        params = {"tenant": acme.pk, "status": ["captured", "failed"], "period": "this_quarter"}
        page = client.get(reverse("payments:list"), params).context["page"]
        rows = exported(client, **params)
        assert [int(r["Payment ID"]) for r in rows] == [p.pk for p in page]
        assert len(rows) == 4

    def test_a_header_row_numbers_and_iso_dates(self, data, finance):
        response = client_for(finance).get(reverse("payments:export"), {"format": "csv"})
        assert "payments-20261121.csv" in response["Content-Disposition"]
        lines = b"".join(response.streaming_content).decode().splitlines()
        header = next(csv.reader(lines[:1]))
        assert header[:4] == ["Payment ID", "Created at", "Captured at", "Received on"]
        rows = {r["Payment ID"]: r for r in csv.DictReader(lines)}
        neft = rows[str(data.neft.pk)]
        assert (neft["Amount (INR)"], neft["Refunded (INR)"], neft["Net received (INR)"]) == (
            "500.00",
            "200.25",
            "299.75",
        )
        assert D(neft["Amount (INR)"]) == D("500")  # a plain number, no ₹ or grouping
        assert neft["Created at"] == "2026-11-21T10:00:00+05:30"
        assert neft["Received on"] == "2026-11-21"
        assert neft["Method"] == "Bank transfer (NEFT)"
        assert neft["Recorded by"] == "asha"
        review = rows[str(data.review.pk)]
        assert review["Created at"] == "2026-10-31T23:30:00+05:30"
        assert review["Gateway method"] == "Netbanking"
        assert review["Gateway order ID"] == "order_AcmeNb1"
        assert review["Needs review"] == data.review.review_reason
        assert rows[str(data.failed.pk)]["Captured at"] == ""

    def test_a_formula_in_a_reference_is_neutralised(self, data, finance):
        rows = exported(client_for(finance), method="cheque")
        assert [r["Reference"] for r in rows] == ["'" + INJECTION]

    def test_a_customer_exports_their_own_rows_without_staff_columns(self, data, owner, globex):
        rows = exported(client_for(owner), tenant=globex.pk)
        assert {int(r["Payment ID"]) for r in rows} == data.acme
        assert "Recorded by" not in rows[0]
        assert "Gateway order ID" not in rows[0]
        assert "Needs review" not in rows[0]
        assert "Gateway payment ID" in rows[0]

    def test_staff_without_the_export_permission_are_refused(self, data, finance):
        finance.groups.get().permissions.remove(Permission.objects.get(codename="export_invoice"))
        client = client_for(finance)
        assert client.get(reverse("payments:list")).status_code == 200
        assert "Export CSV" not in client.get(reverse("payments:list")).content.decode()
        assert client.get(reverse("payments:export")).status_code == 403

    @pytest.mark.parametrize(
        "params", [{"format": "ods"}, {"kind": "invoices"}, {"from": "yesterday"}]
    )
    def test_a_request_it_cannot_answer_exactly_is_refused(self, data, finance, params):
        response = client_for(finance).get(reverse("payments:export"), params)
        assert response.status_code == 400

    def test_the_xlsx_holds_the_same_rows_as_numbers_with_a_total_of_money_received(
        self, data, finance
    ):
        from openpyxl import load_workbook

        client = client_for(finance)
        rows = exported(client)
        response = client.get(reverse("payments:export"), {"format": "xlsx"})
        assert response.status_code == 200
        sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)))["Payments"]
        table = list(sheet.iter_rows(values_only=True))
        header, body, totals = table[0], table[1:-1], table[-1]
        assert [str(r[0]) for r in body] == [r["Payment ID"] for r in rows]
        amount = header.index("Amount (INR)")
        assert all(isinstance(r[amount], int | float) for r in body)
        captured = [r for r in rows if r["Status"] == "Captured"]
        assert totals[0] == "Total of captured payments"
        assert D(str(totals[amount])) == sum(D(r["Amount (INR)"]) for r in captured)

    def test_the_page_links_to_the_export_of_its_filters(self, data, finance):
        body = (
            client_for(finance)
            .get(reverse("payments:list"), {"method": "cheque", "page": "1"})
            .content.decode()
        )
        assert f'href="{reverse("payments:export")}?method=cheque&amp;format=csv"' in body


class TestLargeExports:
    """More rows than EXPORT_INLINE_MAX_ROWS, in CSV or XLSX as for the invoice list: an export
    job writes the file with the same exporter, and only its requester and staff who export open
    it (the job's own lifecycle: tests/exports/test_jobs.py)."""

    @pytest.fixture(autouse=True)
    def _small_limits(self, settings, tmp_path):
        settings.EXPORT_INLINE_MAX_ROWS = 3
        settings.MEDIA_ROOT = tmp_path / "media"

    def test_a_large_xlsx_becomes_a_job_holding_the_pages_rows_and_totals(
        self, data, finance, acme, django_capture_on_commit_callbacks
    ):
        finance.email = "farhan@cirrus.example"
        finance.save()
        client = client_for(finance)
        params = {"tenant": acme.pk, "status": ["captured", "failed"], "period": "this_quarter"}
        page = client.get(reverse("payments:list"), params).context
        job = queue(client, django_capture_on_commit_callbacks, EXPORT, format="xlsx", **params)
        assert (job.status, job.kind, job.format, job.row_count) == ("done", "payments", "xlsx", 4)
        assert (job.tenant_id, job.filename) == (None, "payments-20261121.xlsx")
        assert job.params["status"] == ["captured", "failed"]

        header, *body, totals = sheet_rows(download(client, job), "Payments")
        assert [r[0] for r in body] == [p.pk for p in page["page"]]
        assert {r[0] for r in body} == data.acme
        amount, refunded = header.index("Amount (INR)"), header.index("Refunded (INR)")
        (_, captured, _), (_, refunds, _), _ = page["summary"].amounts
        assert totals[0] == "Total of captured payments"
        # NEFT 500.00 + UPI 679.45 + the one to review 1,180.00; the failed card is left out.
        assert D(str(totals[amount])) == captured == D("2359.45")
        assert D(str(totals[refunded])) == refunds == D("200.25")

        (email,) = mail.outbox
        assert email.to == ["farhan@cirrus.example"]
        assert "Payments" in email.subject
        assert f"/exports/{job.pk}/" in email.body

    def test_the_jobs_file_is_the_one_answered_at_once_below_the_limit(
        self, data, finance, settings, django_capture_on_commit_callbacks
    ):
        client = client_for(finance)
        job = queue(client, django_capture_on_commit_callbacks, EXPORT, format="xlsx")
        assert job.row_count == 6
        settings.EXPORT_INLINE_MAX_ROWS = 6
        inline = client.get(EXPORT, {"format": "xlsx"})
        assert sheet_rows(download(client, job), "Payments") == sheet_rows(inline, "Payments")

    def test_a_large_csv_and_refunds_become_jobs_too(
        self, data, finance, globex, settings, django_capture_on_commit_callbacks
    ):
        client = client_for(finance)
        assert client.get(EXPORT, {"format": "csv", "tenant": globex.pk}).streaming  # 2 rows
        job = queue(client, django_capture_on_commit_callbacks, EXPORT, format="csv")
        text = b"".join(download(client, job).streaming_content).decode()
        rows = list(csv.DictReader(io.StringIO(text)))
        assert {int(r["Payment ID"]) for r in rows} == data.acme | data.globex
        settings.EXPORT_INLINE_MAX_ROWS = 1
        job = queue(
            client, django_capture_on_commit_callbacks, EXPORT, format="xlsx", kind="refunds"
        )
        assert (job.kind, job.filename) == ("refunds", "refunds-20261121.xlsx")
        header, *body, totals = sheet_rows(download(client, job), "Refunds")
        assert [r[0] for r in body] == [data.neft_refund.pk, data.pending_refund.pk]
        assert D(str(totals[header.index("Amount (INR)")])) == D("200.25")  # processed only

    def test_a_customers_job_holds_their_organisation_only(
        self, data, owner, acme, globex, django_capture_on_commit_callbacks
    ):
        client = client_for(owner)
        job = queue(
            client, django_capture_on_commit_callbacks, EXPORT, format="xlsx", tenant=globex.pk
        )
        assert job.tenant_id == acme.pk
        header, *body, _ = sheet_rows(download(client, job), "Payments")
        assert {r[0] for r in body} == data.acme
        assert {r[header.index("Customer")] for r in body} == {"Acme Cloud"}
        assert not {"Recorded by", "Gateway order ID", "Needs review", "Note"} & set(header)

    def test_only_the_requester_and_staff_who_export_payments_open_the_job(
        self,
        data,
        owner,
        viewer,
        member_admin,
        other_owner,
        finance,
        billing_admin,
        django_capture_on_commit_callbacks,
    ):
        job = queue(client_for(owner), django_capture_on_commit_callbacks, EXPORT, format="csv")
        detail = reverse("exports:detail", kwargs={"job_id": job.pk})
        for user in (owner, finance, billing_admin):
            assert download(client_for(user), job).status_code == 200
        for user in (viewer, member_admin, other_owner):
            assert client_for(user).get(detail).status_code == 404
            assert download(client_for(user), job).status_code == 404
        # Staff who export invoices but may not read payments.
        finance.groups.get().permissions.remove(Permission.objects.get(codename="view_payment"))
        assert download(client_for(finance), job).status_code == 403

    def test_a_role_that_may_not_export_is_refused_before_any_job(self, data, finance):
        group = finance.groups.get()
        group.permissions.remove(Permission.objects.get(codename="export_invoice"))
        assert client_for(finance).get(EXPORT, {"format": "xlsx"}).status_code == 403
        group.permissions.add(Permission.objects.get(codename="export_invoice"))
        group.permissions.remove(Permission.objects.get(codename="view_refund"))
        client = client_for(finance)
        assert client.get(EXPORT, {"format": "xlsx", "kind": "refunds"}).status_code == 403
        assert client.get(EXPORT, {"format": "xlsx", "from": "yesterday"}).status_code == 400
        assert not ExportJob.objects.exists()


class TestPage:
    def test_htmx_gets_the_results_region_only(self, data, finance):
        response = client_for(finance).get(
            reverse("payments:list"), {"status": "failed"}, headers={"HX-Request": "true"}
        )
        body = response.content.decode()
        assert body.lstrip().startswith('<div id="payment-results"')
        assert "<html" not in body
        assert "HX-Request" in response["Vary"]

    def test_no_inline_script_or_style(self, data, billing_admin):
        body = client_for(billing_admin).get(reverse("payments:list")).content.decode()
        assert "<script>" not in body
        assert "<style" not in body
        assert " style=" not in body

    def test_pages_and_sizes(self, data, finance):
        client = client_for(finance)
        assert len(client.get(reverse("payments:list"), {"size": 25}).context["page"]) == 6
        response = client.get(reverse("payments:list"), {"size": 1000})
        assert response.context["size"] == 25  # sizes are offered, not made up

    @pytest.mark.parametrize("kind", ["payments", "refunds"])
    def test_the_query_count_does_not_grow_with_the_rows(
        self, acme, globex, billing_admin, make_invoice, kind
    ):
        invoice = make_invoice(S.SENT)
        payments = Payment.objects.bulk_create(
            Payment(
                invoice=invoice,
                tenant=acme,
                amount=D("10.00"),
                method=Payment.Method.NEFT,
                status=Payment.Status.CAPTURED,
                reference=f"UTR{n}",
                recorded_by=billing_admin,
            )
            for n in range(110)
        )
        Refund.objects.bulk_create(
            Refund(
                payment=p, invoice=invoice, amount=D("1.00"), reason="x", recorded_by=billing_admin
            )
            for p in payments
        )
        client = client_for(billing_admin)
        client.get(reverse("payments:list"))  # the session's first page stores the role label
        counts = {}
        for size in (25, 100):
            params = {"size": size, "kind": kind, "tenant": acme.pk, "q": "UTR"}
            with CaptureQueriesContext(connection) as queries:
                response = client.get(reverse("payments:list"), params)
            assert len(response.context["page"]) == size
            counts[size] = len(queries)
        # Session, user, two permission reads, the chosen customer, the summary, the rows.
        assert counts[25] == counts[100] <= 7, counts
