"""The invoice pages: list filters and summary, the sheet, actions by POST, drafts, bulk."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from invoices import services
from invoices.filters import period_range
from invoices.models import Invoice
from tests.conftest import client_for

D = Decimal


def line(description: str = "Installation", price: str = "10000", qty: str = "1"):
    return services.LineData(description, D(qty), D(price))


@pytest.fixture
def make(provider, billing_admin):
    def build(tenant, *, price="10000", description="Installation", send=True, **kwargs):
        invoice = services.invoice_create(
            tenant=tenant, lines=[line(description, price)], actor=billing_admin, **kwargs
        )
        if send:
            invoice = services.invoice_send(invoice=invoice, actor=billing_admin)
        return invoice

    return build


def listed(client, **params) -> list[str]:
    response = client.get(reverse("invoices:list"), params)
    assert response.status_code == 200
    return [i.display_number for i in response.context["page"]]


@pytest.mark.parametrize(
    ("preset", "today", "expected"),
    [
        ("this_month", "2026-11-21", ("2026-11-01", "2026-11-30")),
        ("last_month", "2026-01-10", ("2025-12-01", "2025-12-31")),
        ("this_quarter", "2026-11-21", ("2026-10-01", "2026-12-31")),
        ("last_quarter", "2026-02-03", ("2025-10-01", "2025-12-31")),
        ("this_quarter", "2026-03-31", ("2026-01-01", "2026-03-31")),
        ("this_year", "2026-03-31", ("2025-04-01", "2026-03-31")),
        ("this_year", "2026-04-01", ("2026-04-01", "2027-03-31")),
    ],
)
def test_date_presets_follow_the_indian_financial_year(preset, today, expected):
    start, end = period_range(preset, datetime.date.fromisoformat(today))
    assert (start.isoformat(), end.isoformat()) == expected


def test_as_of_today_has_no_start():
    assert period_range("as_of_today", datetime.date(2026, 11, 21)) == (
        None,
        datetime.date(2026, 11, 21),
    )


class TestList:
    def test_search_finds_number_customer_and_line_description(self, make, acme, globex, finance):
        a = make(acme, description="Rack installation")
        g = make(globex, description="GPU cluster setup")
        client = client_for(finance)
        assert listed(client, q=a.number) == [a.number]
        assert listed(client, q="globex") == [g.number]
        assert listed(client, q="gpu cluster") == [g.number]

    def test_status_tabs_combine_and_count_with_the_other_filters(
        self, make, acme, globex, billing_admin
    ):
        sent = make(acme)
        draft = make(acme, send=False)
        voided = make(globex)
        services.invoice_void(invoice=voided, actor=billing_admin, reason="Duplicate")
        client = client_for(billing_admin)
        assert set(listed(client, status=["sent", "draft"])) == {sent.number, draft.display_number}
        response = client.get(reverse("invoices:list"), {"tenant": acme.pk, "status": "sent"})
        summary = response.context["summary"]
        assert summary.status_counts["sent"] == 1
        assert summary.status_counts["draft"] == 1  # tabs count beside the chosen one
        assert summary.status_counts["voided"] == 0  # Globex is filtered out
        assert summary.count == 1

    def test_summary_adds_up_the_filtered_invoices(self, make, acme, billing_admin):
        first = make(acme, price="10000")  # 11,800.00 with 18% GST
        second = make(acme, price="5000")  # 5,900.00
        from payments.services import payment_record_manual

        payment_record_manual(
            invoice=second,
            amount=D("900"),
            method="neft",
            reference="UTR1",
            received_on=services.today(),
            actor=billing_admin,
        )
        summary = client_for(billing_admin).get(reverse("invoices:list")).context["summary"]
        assert summary.invoiced == first.total + second.total == D("17700.00")
        assert summary.paid == D("900.00")
        assert summary.pending == D("16800.00")
        assert summary.balance == D("16800.00")
        assert summary.overdue == D("0.00")

    def test_date_preset_on_due_date_and_custom_range(self, make, acme, finance):
        with time_machine.travel(datetime.datetime(2026, 10, 5, 10, tzinfo=datetime.UTC)):
            october = make(acme)  # issued 5 Oct, due 20 Oct (15 days)
        with time_machine.travel(datetime.datetime(2026, 11, 5, 10, tzinfo=datetime.UTC)):
            november = make(acme)
            client = client_for(finance)
            assert listed(client, period="last_month") == [october.number]
            assert listed(client, period="this_month", date_field="due_date") == [november.number]
            custom = {"period": "custom", "from": "2026-10-01", "to": "2026-10-31"}
            assert listed(client, **custom) == [october.number]

    def test_amount_ranges_kind_and_tenant(self, make, acme, globex, finance):
        small = make(acme, price="1000")
        big = make(globex, price="100000")
        client = client_for(finance)
        assert listed(client, total_min="50000") == [big.number]
        assert listed(client, balance_max="2000") == [small.number]
        assert listed(client, tenant=acme.pk) == [small.number]
        assert listed(client, kind="subscription") == []

    def test_the_plan_filter_shows_invoices_of_tenants_on_that_plan(
        self, make, acme, globex, finance
    ):
        from usage.models import Plan, Subscription

        plan = Plan.objects.create(code="ent", name="Enterprise", monthly_fee=D("75000"))
        Subscription.objects.create(tenant=globex, plan=plan, starts_on=datetime.date(2026, 1, 1))
        make(acme)
        on_plan = make(globex)
        assert listed(client_for(finance), plan=plan.pk) == [on_plan.number]

    def test_sorting_by_total_both_ways(self, make, acme, finance):
        a, b = make(acme, price="1000"), make(acme, price="3000")
        client = client_for(finance)
        assert listed(client, sort="total") == [a.number, b.number]
        assert listed(client, sort="-total") == [b.number, a.number]

    def test_a_bad_filter_value_is_shown_and_ignored(self, make, acme, finance):
        invoice = make(acme)
        response = client_for(finance).get(reverse("invoices:list"), {"total_min": "lots"})
        assert "total_min" in response.context["filter"].form.errors
        assert [i.number for i in response.context["page"]] == [invoice.number]

    @pytest.mark.parametrize("size", [25, 100])
    def test_the_page_costs_the_same_few_queries_whatever_its_size(
        self, make, acme, billing_admin, django_assert_max_num_queries, size
    ):
        for _ in range(30):
            make(acme, send=False)
        client = client_for(billing_admin)
        # The session's first page stores the user menu's role label once (a write, not a
        # read per page); every page after it is what the budget is about.
        client.get(reverse("invoices:list"), {"tenant": acme.pk})
        with django_assert_max_num_queries(8):
            response = client.get(
                reverse("invoices:list"), {"size": size, "q": "install", "tenant": acme.pk}
            )
        assert len(response.context["page"]) == min(size, 30)

    def test_customers_see_their_organisations_sent_invoices_only(
        self, make, acme, globex, owner, other_owner
    ):
        sent = make(acme)
        make(acme, send=False)  # a draft: not the customer's business yet
        make(globex)
        assert listed(client_for(owner)) == [sent.number]
        body = client_for(owner).get(reverse("invoices:list")).content.decode()
        assert "Draft" not in body.split("<tbody>")[1]
        assert "New one-time invoice" not in body

    def test_the_customer_filter_loads_its_options_only_when_opened(
        self, make, acme, globex, finance
    ):
        make(acme)
        client = client_for(finance)
        page = client.get(reverse("invoices:list")).content.decode()
        assert "Globex Analytics" not in page  # not rendered with every page
        chosen = client.get(reverse("invoices:list"), {"tenant": acme.pk}).content.decode()
        assert f'<option value="{acme.pk}" selected>Acme Cloud</option>' in chosen
        options = client.get(reverse("tenants:options"), {"selected": acme.pk}).content.decode()
        assert f'<option value="{globex.pk}">Globex Analytics</option>' in options
        assert f'<option value="{acme.pk}" selected>Acme Cloud</option>' in options

    def test_a_person_without_an_organisation_gets_404_not_an_error(self, db):
        from tests.factories import UserFactory

        loner = UserFactory(username="loner")
        assert client_for(loner).get(reverse("invoices:list")).status_code == 404

    def test_htmx_gets_the_results_region_only(self, make, acme, finance):
        make(acme)
        response = client_for(finance).get(reverse("invoices:list"), headers={"HX-Request": "true"})
        body = response.content.decode()
        assert body.lstrip().startswith('<div id="invoice-results"')
        assert "<html" not in body


class TestSheet:
    def test_the_sheet_shows_lines_tax_payments_and_timeline(self, make, globex, finance):
        invoice = make(globex)  # Karnataka: inter-state from Maharashtra
        response = client_for(finance).get(
            reverse("invoices:detail", args=[invoice.pk]) + "?sheet=1",
            headers={"HX-Request": "true"},
        )
        body = response.content.decode()
        assert "<html" not in body
        assert "IGST" in body
        assert "CGST" not in body
        assert "₹1,800.00" in body  # 18% of 10,000
        assert "Finalized" in body
        assert "Sent" in body
        assert "Record payment" in body  # finance may record payments
        assert "Void</summary>" not in body  # but not void

    def test_intra_state_shows_cgst_and_sgst(self, make, acme, billing_admin):
        invoice = make(acme)
        body = client_for(billing_admin).get(reverse("invoices:detail", args=[invoice.pk]))
        text = body.content.decode()
        assert "CGST" in text
        assert "SGST" in text
        assert text.count("₹900.00") >= 2

    def test_a_customer_cannot_open_a_draft(self, make, acme, owner):
        draft = make(acme, send=False)
        assert client_for(owner).get(reverse("invoices:detail", args=[draft.pk])).status_code == 404


class TestActions:
    def test_void_needs_a_reason_and_the_confirmation(self, make, acme, billing_admin):
        invoice = make(acme)
        client = client_for(billing_admin)
        response = client.post(reverse("invoices:void", args=[invoice.pk]), {"void-reason": "Typo"})
        assert response.status_code == 400
        assert "Tick the box to confirm" in response.content.decode()
        invoice.refresh_from_db()
        assert invoice.status == "sent"
        client.post(
            reverse("invoices:void", args=[invoice.pk]),
            {"void-reason": "Typo", "void-confirm": "on"},
        )
        invoice.refresh_from_db()
        assert (invoice.status, invoice.void_reason) == ("voided", "Typo")

    def test_an_overpayment_is_refused_with_a_message_and_nothing_is_written(
        self, make, acme, finance
    ):
        invoice = make(acme)
        data = {
            "record_payment-amount": "99999",
            "record_payment-method": "neft",
            "record_payment-reference": "UTR9",
            "record_payment-received_on": "2026-01-02",
        }
        response = client_for(finance).post(
            reverse("invoices:record_payment", args=[invoice.pk]), data, follow=True
        )
        assert "more than the balance due" in response.content.decode()
        invoice.refresh_from_db()
        assert invoice.amount_paid == 0
        assert not invoice.payments.exists()

    def test_a_refused_status_move_says_why_and_changes_nothing(self, make, acme, billing_admin):
        invoice = make(acme, send=False)
        client = client_for(billing_admin)
        response = client.post(reverse("invoices:remind", args=[invoice.pk]), follow=True)
        assert "draft invoice cannot be given" in response.content.decode()
        assert invoice.events.count() == 1

    def test_the_owner_reports_a_problem_and_staff_see_the_badge(
        self, make, acme, owner, billing_admin
    ):
        invoice = make(acme)
        client_for(owner).post(
            reverse("invoices:dispute", args=[invoice.pk]),
            {"dispute-reason": "We were billed for a server we returned."},
        )
        invoice.refresh_from_db()
        assert invoice.disputed
        body = client_for(billing_admin).get(reverse("invoices:list")).content.decode()
        assert 'data-status="disputed"' in body
        client_for(billing_admin).post(
            reverse("invoices:resolve_dispute", args=[invoice.pk]),
            {"resolve_dispute-resolution": "Credit note issued"},
        )
        invoice.refresh_from_db()
        assert not invoice.disputed


class TestDrafts:
    def form_data(self, tenant, **lines):
        data = {
            "tenant": tenant.pk,
            "due_date": "",
            "discount": "500",
            "notes": "PO 4411",
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "0",
            "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "200",
            "lines-0-description": "Dell PowerEdge R760",
            "lines-0-kind": "one_time",
            "lines-0-sac_code": "84714190",
            "lines-0-quantity": "2",
            "lines-0-unit": "unit",
            "lines-0-unit_price": "485000",
            "lines-0-tax_rate": "18",
        }
        data.update(lines)
        return data

    def test_billing_admin_creates_a_one_time_invoice(self, acme, billing_admin, provider):
        response = client_for(billing_admin).post(reverse("invoices:create"), self.form_data(acme))
        invoice = Invoice.objects.get()
        assert response.url == reverse("invoices:detail", args=[invoice.pk])
        assert (invoice.kind, invoice.status, invoice.subtotal) == (
            "one_time",
            "draft",
            D("970000.00"),
        )
        assert invoice.taxable_value == D("969500.00")
        assert invoice.cgst == invoice.sgst == D("87255.00")

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("lines-0-unit_price", "-5", "Only an adjustment line may have a negative price"),
            ("lines-0-sac_code", "12", "4 to 8 digits"),
            ("lines-0-quantity", "0", "greater than or equal to"),
            ("lines-0-description", "", "required"),
        ],
    )
    def test_a_bad_line_is_refused_beside_it_and_nothing_is_saved(
        self, acme, billing_admin, provider, field, value, message
    ):
        response = client_for(billing_admin).post(
            reverse("invoices:create"), self.form_data(acme, **{field: value})
        )
        assert response.status_code == 200
        assert message in response.content.decode()
        assert not Invoice.objects.exists()

    def test_a_discount_larger_than_the_charges_is_refused(self, acme, billing_admin, provider):
        data = self.form_data(acme, discount="2000000")
        response = client_for(billing_admin).post(reverse("invoices:create"), data)
        assert "discount is larger than the charges" in response.content.decode()
        assert not Invoice.objects.exists()

    def test_editing_a_draft_replaces_its_lines(self, make, acme, billing_admin):
        draft = make(acme, send=False)
        data = self.form_data(acme)
        data.pop("tenant")
        client_for(billing_admin).post(reverse("invoices:edit", args=[draft.pk]), data)
        draft.refresh_from_db()
        assert draft.line_count == 1
        assert draft.lines.get().description == "Dell PowerEdge R760"
        assert draft.notes == "PO 4411"

    def test_an_issued_invoice_cannot_be_edited(self, make, acme, billing_admin):
        invoice = make(acme)
        response = client_for(billing_admin).get(reverse("invoices:edit", args=[invoice.pk]))
        assert response.status_code == 302
        assert invoice.lines.get().description == "Installation"


class TestBulk:
    def test_bulk_send_says_per_invoice_what_happened(
        self, make, acme, globex, billing_admin, other_owner
    ):
        draft = make(acme, send=False)
        voided = make(acme)
        services.invoice_void(invoice=voided, actor=billing_admin, reason="Duplicate")
        response = client_for(billing_admin).post(
            reverse("invoices:bulk"), {"action": "send", "ids": [draft.pk, voided.pk, 999999]}
        )
        results = response.context["results"]
        draft.refresh_from_db()
        assert draft.status == "sent"
        assert results[0] == (draft.number, True, "Sent.")
        assert results[1][1] is False
        assert "voided invoice cannot" in results[1][2]
        assert results[2] == ("#999999", False, "Not found.")

    def test_bulk_void_needs_a_reason(self, make, acme, billing_admin):
        invoice = make(acme)
        response = client_for(billing_admin).post(
            reverse("invoices:bulk"), {"action": "void", "ids": [invoice.pk]}, follow=True
        )
        assert "Give a reason for voiding" in response.content.decode()
        invoice.refresh_from_db()
        assert invoice.status == "sent"

    def test_bulk_csv_exports_the_selected_rows_with_formulas_neutralised(
        self, make, acme, globex, finance
    ):
        acme.display_name = '=HYPERLINK("http://evil")'
        acme.save()
        a = make(acme)
        make(globex)
        response = client_for(finance).post(
            reverse("invoices:bulk"), {"action": "export_csv", "ids": [a.pk]}
        )
        body = b"".join(response.streaming_content).decode()
        lines = body.strip().splitlines()
        assert len(lines) == 2
        assert a.number in lines[1]
        assert "'=HYPERLINK" in lines[1]
        assert "11800.00" in lines[1]


def test_the_detail_sheet_shows_a_round_quantity_as_typed(make_invoice, billing_admin):
    invoice = make_invoice(Invoice.Status.SENT)  # 100 vCPU-hours at ₹10, GST 18%
    page = client_for(billing_admin).get(reverse("invoices:detail", args=[invoice.pk]))
    html = page.content.decode()
    assert '<td class="num">100</td><td>vCPU-hour</td>' in html
    assert "1E+2" not in html
    assert '<td class="num">18%</td>' in html
