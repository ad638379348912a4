"""Editing a draft the monthly run made: what the admin did not touch stays as it was.

A generated draft's lines carry more than the edit form shows: the records each usage line
billed, the one-time charge a line bills, tiered amounts and how they were reached, the month a
line covers. An edit that only changes the notes must leave all of that alone; one that changes
a line keeps the line's link to what it bills.
"""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from invoices import generation, services
from invoices.models import Invoice
from tests.conftest import client_for
from tests.invoices.builders import usage_record
from usage.models import OneTimeCharge, Subscription

D = Decimal
OCT = generation.Period.month("2026-10")
IST = generation.IST


@pytest.fixture
def draft(acme, plan, provider):
    """October's draft for Acme: plan fee, vCPU, tiered egress, a rack installation charge."""
    Subscription.objects.create(tenant=acme, plan=plan, starts_on=datetime.date(2026, 1, 1))
    october = datetime.datetime(2026, 10, 5, 10, 0, tzinfo=IST)
    usage_record(acme, "vcpu_hours", "1000", october, "cpu")
    usage_record(acme, "egress_gb", "1600", october, "egress")
    OneTimeCharge.objects.create(
        tenant=acme, description="Rack installation", sac_code="998713", unit_price=D("18000")
    )
    return generation.generate_invoice(tenant=acme, period=OCT)


def form_data(response, **changes) -> dict[str, str]:
    """What the edit page's form sends back as the page drew it, with ``changes`` applied
    (``lines-0-quantity="5"``, ``notes="..."``)."""
    data: dict[str, str] = {}
    for form in (response.context["header"], *response.context["lines"]):
        for field in form:
            value = field.value()
            data[field.html_name] = "" if value is None else str(value)
    management = response.context["lines"].management_form
    for field in management:
        data[field.html_name] = str(field.value())
    data.update({key.replace("__", "-"): value for key, value in changes.items()})
    return data


def edit(user, invoice, **changes):
    client = client_for(user)
    url = reverse("invoices:edit", args=[invoice.pk])
    return client.post(url, form_data(client.get(url), **changes))


def lines_as_stored(invoice) -> list[tuple]:
    return list(
        invoice.lines.order_by("position").values_list(
            "pk",
            "description",
            "quantity",
            "unit_price",
            "amount",
            "pricing_detail",
            "period_start",
            "period_end",
            "resource_type",
        )
    )


def held(invoice) -> dict[str, set[int]]:
    return {
        line.description: set(generation.line_records(line).values_list("pk", flat=True))
        for line in invoice.lines.all()
    }


def test_changing_only_the_notes_leaves_every_line_as_the_run_made_it(draft, billing_admin):
    before = (lines_as_stored(draft), held(draft), draft.total)
    response = edit(billing_admin, draft, notes="PO 7781")
    assert response.status_code == 302
    draft = Invoice.objects.get(pk=draft.pk)
    assert draft.notes == "PO 7781"
    assert (lines_as_stored(draft), held(draft), draft.total) == before
    egress = draft.lines.get(description="Network egress GB")
    assert egress.pricing_detail == "100 included; 1000 × ₹4.5 + 500 × ₹3"
    assert egress.amount == D("6000.00")  # the tiers' amount, not quantity x an average price


def test_the_one_time_charge_stays_billed_once(draft, billing_admin):
    edit(billing_admin, draft, notes="PO 7781")
    charge = OneTimeCharge.objects.get()
    assert charge.invoice_line is not None
    assert charge.invoice_line.invoice_id == draft.pk
    # Nothing left pending for November's invoice to bill a second time.
    assert not generation._pending_charges(datetime.datetime.now(IST)).exists()


def test_a_changed_usage_line_keeps_its_records_and_is_priced_as_edited(draft, billing_admin):
    records_before = held(draft)
    position = draft.lines.get(description="vCPU-hours").position
    edit(billing_admin, draft, **{f"lines__{position}__unit_price": "1.1"})
    line = draft.lines.get(description="vCPU-hours")
    assert (line.quantity, line.unit_price, line.amount) == (D("1000"), D("1.1"), D("1100.00"))
    assert line.pricing_detail == ""  # the run's working no longer explains the amount
    assert line.period_start == OCT.start
    assert held(draft) == records_before


def test_removing_a_usage_line_is_refused_and_changes_nothing(draft, billing_admin):
    before = (lines_as_stored(draft), held(draft))
    position = draft.lines.get(description="vCPU-hours").position
    response = edit(billing_admin, draft, notes="changed", **{f"lines__{position}__DELETE": "on"})
    assert response.status_code == 200
    assert "bills 1 usage record" in response.content.decode()
    draft = Invoice.objects.get(pk=draft.pk)
    assert (lines_as_stored(draft), held(draft), draft.notes) == (*before, "")


def test_a_removed_one_time_charge_waits_for_the_next_invoice(draft, billing_admin):
    position = draft.lines.get(description="Rack installation").position
    edit(billing_admin, draft, **{f"lines__{position}__DELETE": "on"})
    assert "Rack installation" not in {line.description for line in draft.lines.all()}
    assert OneTimeCharge.objects.get().invoice_line is None


def test_an_edited_draft_regenerated_passes_its_usage_to_the_new_draft(draft, billing_admin):
    edit(billing_admin, draft, notes="PO 7781")
    records = held(draft)
    again = services.invoice_regenerate(invoice=draft, actor=billing_admin, reason="wrong plan")
    assert again.pk != draft.pk
    assert again.regenerated_from_id == draft.pk
    assert held(again) == records
    assert again.total == Invoice.objects.get(pk=draft.pk).total


def test_new_lines_are_added_after_the_kept_ones(draft, billing_admin):
    count = draft.lines.count()
    edit(
        billing_admin,
        draft,
        **{
            f"lines__{count}__description": "Cross-connect",
            f"lines__{count}__kind": "one_time",
            f"lines__{count}__sac_code": "998315",
            f"lines__{count}__quantity": "1",
            f"lines__{count}__unit": "unit",
            f"lines__{count}__unit_price": "2500",
            f"lines__{count}__tax_rate": "18",
        },
    )
    descriptions = list(draft.lines.order_by("position").values_list("description", flat=True))
    assert descriptions[-1] == "Cross-connect"
    assert len(descriptions) == count + 1
    draft.refresh_from_db()
    assert draft.subtotal == D("52700.00")  # 25000 + 1200 + 6000 + 18000 + 2500


def test_a_line_of_another_invoice_cannot_be_edited_through_this_one(
    draft, billing_admin, make_invoice
):
    other = make_invoice("draft")
    foreign = other.lines.get()
    before = lines_as_stored(other)
    edit(billing_admin, draft, lines__0__line=str(foreign.pk), lines__0__description="Taken")
    assert lines_as_stored(other) == before
    assert Invoice.objects.get(pk=draft.pk).lines.filter(description="Taken").exists()
