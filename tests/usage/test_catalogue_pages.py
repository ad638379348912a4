"""A tenant's plan and one-time charges, from the tenant's page."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from invoices import generation
from invoices.models import Invoice
from tests.conftest import client_for
from usage.models import OneTimeCharge, Plan, Subscription

D = Decimal


@pytest.fixture
def plans(db):
    return (
        Plan.objects.create(code="standard", name="Standard", monthly_fee=D("25000")),
        Plan.objects.create(code="enterprise", name="Enterprise", monthly_fee=D("75000")),
    )


def test_changing_plan_ends_the_current_one_the_day_before(acme, plans, billing_admin):
    standard, enterprise = plans
    client = client_for(billing_admin)
    url = reverse("tenants:subscription_start", args=[acme.pk])
    client.post(url, {"plan": standard.pk, "starts_on": "2026-08-01"})
    client.post(url, {"plan": enterprise.pk, "starts_on": "2026-10-11"})
    first, second = Subscription.objects.order_by("starts_on")
    assert (first.plan, first.ends_on) == (standard, datetime.date(2026, 10, 10))
    assert (second.plan, second.ends_on) == (enterprise, None)


def test_a_plan_cannot_start_before_the_current_one(acme, plans, billing_admin):
    standard, enterprise = plans
    client = client_for(billing_admin)
    url = reverse("tenants:subscription_start", args=[acme.pk])
    client.post(url, {"plan": standard.pk, "starts_on": "2026-08-01"})
    response = client.post(url, {"plan": enterprise.pk, "starts_on": "2026-07-01"}, follow=True)
    assert "a new plan starts after that" in response.content.decode()
    assert Subscription.objects.get().ends_on is None


def test_ending_a_subscription_prorates_its_last_month(acme, plans, billing_admin, provider):
    standard, _ = plans
    sub = Subscription.objects.create(
        tenant=acme, plan=standard, starts_on=datetime.date(2026, 1, 1)
    )
    client_for(billing_admin).post(
        reverse("tenants:subscription_end", args=[acme.pk, sub.pk]), {"ends_on": "2026-10-15"}
    )
    invoice = generation.generate_invoice(tenant=acme, period=generation.Period.month("2026-10"))
    assert invoice.lines.get().amount == D("12096.77")  # 25,000 x 15/31


def test_a_charge_for_the_next_invoice_is_billed_by_the_run(acme, billing_admin, provider):
    response = client_for(billing_admin).post(
        reverse("tenants:charge_add", args=[acme.pk]),
        {
            "description": "Rack installation",
            "sac_code": "998713",
            "quantity": "1",
            "unit_price": "18000",
            "tax_rate": "18",
        },
    )
    assert response.url == reverse("tenants:detail", args=[acme.pk])
    charge = OneTimeCharge.objects.get()
    invoice = generation.generate_invoice(tenant=acme, period=generation.Period.month("2026-10"))
    charge.refresh_from_db()
    assert charge.invoice_line.invoice == invoice


def test_a_charge_invoiced_now_is_a_one_time_draft(acme, billing_admin, provider):
    response = client_for(billing_admin).post(
        reverse("tenants:charge_add", args=[acme.pk]),
        {
            "description": "Server",
            "sac_code": "84714190",
            "quantity": "2",
            "unit_price": "485000",
            "tax_rate": "18",
            "invoice_now": "on",
        },
    )
    invoice = Invoice.objects.get()
    assert response.url == reverse("invoices:detail", args=[invoice.pk])
    assert (invoice.kind, invoice.status, invoice.subtotal) == ("one_time", "draft", D("970000.00"))
    assert not OneTimeCharge.objects.exists()


def test_a_bad_charge_is_refused_with_a_message_and_nothing_saved(acme, billing_admin):
    response = client_for(billing_admin).post(
        reverse("tenants:charge_add", args=[acme.pk]),
        {
            "description": "",
            "sac_code": "12",
            "quantity": "1",
            "unit_price": "-5",
            "tax_rate": "18",
        },
        follow=True,
    )
    body = response.content.decode()
    assert "4 to 8 digits" in body
    assert "required" in body
    assert not OneTimeCharge.objects.exists()
    assert not Invoice.objects.exists()


def test_the_tenant_page_shows_the_plan_and_waiting_charges(acme, plans, billing_admin, finance):
    Subscription.objects.create(tenant=acme, plan=plans[0], starts_on=datetime.date(2026, 8, 1))
    OneTimeCharge.objects.create(tenant=acme, description="Firewall set-up", unit_price=D("15000"))
    body = client_for(finance).get(reverse("tenants:detail", args=[acme.pk])).content.decode()
    assert "Standard" in body
    assert "Firewall set-up" in body
    assert "Change plan" not in body  # finance reads, billing admins change
    assert (
        "Change plan"
        in client_for(billing_admin).get(reverse("tenants:detail", args=[acme.pk])).content.decode()
    )
