"""The meter and plan pages: billing admins edit, finance reads, customers are refused."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.conftest import client_for
from usage import selectors
from usage.catalogue_views import SubscriptionForm
from usage.models import Meter, Plan, PlanPrice, Subscription, UsageRecord
from usage.rating import rate

D = Decimal
OCT_1 = datetime.date(2026, 10, 1)
OCT_31 = datetime.date(2026, 10, 31)


def price_data(model="per_unit", *, tiers=(), unit_price="", included="0", **extra):
    """A price form's POST: the fields, then the tier rows and one empty row after them."""
    data = {
        "model": model,
        "unit_price": unit_price,
        "included_quantity": included,
        "tiers-TOTAL_FORMS": str(len(tiers) + 1),
        "tiers-INITIAL_FORMS": "0",
        "tiers-MIN_NUM_FORMS": "0",
        "tiers-MAX_NUM_FORMS": "20",
        **extra,
    }
    for index, (up_to, price) in enumerate(tiers):
        data[f"tiers-{index}-up_to"] = up_to
        data[f"tiers-{index}-unit_price"] = price
    return data


def meter_data(**changes):
    data = {
        "code": "nat_gateway_hours",
        "name": "NAT gateway hours",
        "unit": "gateway-hour",
        "category": "network",
        "sac_code": "998315",
        "dimension": "",
    }
    return data | changes


def rated_for(tenant, meter, quantity, dimension=""):
    """What the monthly run would charge for a month's quantity, through its own pricing."""
    price = selectors.tenant_pricing(tenant, OCT_1, OCT_31).price_for(meter.pk, dimension)
    return rate(price, quantity).amount


def add_record(tenant, meter, key="r1"):
    start = datetime.datetime(2026, 10, 5, tzinfo=datetime.UTC)
    return UsageRecord.objects.create(
        tenant=tenant,
        meter=meter,
        resource_id="vm-1",
        quantity=D("10"),
        window_start=start,
        window_end=start + datetime.timedelta(hours=1),
        idempotency_key=key,
    )


# --- Meters ---------------------------------------------------------------------------------


def test_a_billing_admin_adds_a_meter_and_edits_it(billing_admin):
    client = client_for(billing_admin)
    response = client.post(reverse("plans:meter_create"), meter_data())
    assert response.url == reverse("plans:meter_list")
    meter = Meter.objects.get(code="nat_gateway_hours")
    assert (meter.category, meter.sac_code, meter.active) == ("network", "998315", True)

    response = client.post(
        reverse("plans:meter_edit", args=[meter.pk]),
        meter_data(code="nat_hours", name="NAT hours", sac_code="998316"),
    )
    assert response.status_code == 302
    meter.refresh_from_db()
    assert (meter.code, meter.name, meter.sac_code) == ("nat_hours", "NAT hours", "998316")
    assert "NAT hours" in client.get(reverse("plans:meter_list")).content.decode()


@pytest.mark.parametrize(
    ("sac_code", "message"),
    [
        ("12", "4 to 8 digits"),
        ("99831A", "4 to 8 digits"),
        ("84714190", "starts with 99"),
    ],
)
def test_a_meter_needs_the_sac_code_of_a_service(billing_admin, sac_code, message):
    response = client_for(billing_admin).post(
        reverse("plans:meter_create"), meter_data(sac_code=sac_code)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Meter.objects.filter(code="nat_gateway_hours").exists()


def test_a_meter_code_already_taken_is_refused_beside_the_field(billing_admin):
    response = client_for(billing_admin).post(
        reverse("plans:meter_create"), meter_data(code="vcpu_hours")
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Meter.objects.filter(code="vcpu_hours").count() == 1


def test_a_meter_code_cannot_change_once_records_use_it(acme, billing_admin):
    meter = Meter.objects.get(code="vcpu_hours")
    add_record(acme, meter)
    url = reverse("plans:meter_edit", args=[meter.pk])
    client = client_for(billing_admin)
    assert "Fixed: usage records already use this meter" in client.get(url).content.decode()

    response = client.post(
        url,
        meter_data(code="vcpu", name="Virtual CPU hours", unit="vCPU-hour", category="compute"),
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "metering systems and import files send usage by this code" in body
    meter.refresh_from_db()
    assert (meter.code, meter.name) == ("vcpu_hours", "vCPU-hours")  # nothing saved at all


def test_a_meter_dimension_cannot_change_once_records_use_it(acme, billing_admin):
    meter = Meter.objects.get(code="gpu_hours")
    add_record(acme, meter)
    response = client_for(billing_admin).post(
        reverse("plans:meter_edit", args=[meter.pk]),
        meter_data(code="gpu_hours", name="GPU-hours", category="gpu", dimension="gpu_model"),
    )
    assert "would no longer match" in response.content.decode()
    meter.refresh_from_db()
    assert meter.dimension == "gpu_type"


def test_a_dimension_cannot_be_dropped_while_prices_name_its_values(plan, billing_admin):
    meter = Meter.objects.get(code="gpu_hours")
    response = client_for(billing_admin).post(
        reverse("plans:meter_edit", args=[meter.pk]),
        meter_data(code="gpu_hours", name="GPU-hours", category="gpu", dimension=""),
    )
    assert "Prices for single gpu_type values use this meter" in response.content.decode()
    meter.refresh_from_db()
    assert meter.dimension == "gpu_type"


def test_a_meter_in_use_can_still_be_renamed(acme, billing_admin):
    meter = Meter.objects.get(code="egress_gb")
    add_record(acme, meter)
    client_for(billing_admin).post(
        reverse("plans:meter_edit", args=[meter.pk]),
        meter_data(code="egress_gb", name="Internet egress", unit="GB", sac_code="998316"),
    )
    meter.refresh_from_db()
    assert (meter.name, meter.sac_code) == ("Internet egress", "998316")


def test_a_meter_is_deactivated_not_deleted(acme, billing_admin):
    meter = Meter.objects.get(code="ingress_gb")
    add_record(acme, meter)
    client = client_for(billing_admin)
    response = client.post(reverse("plans:meter_deactivate", args=[meter.pk]), follow=True)
    assert "Records already stored are still billed" in response.content.decode()
    meter.refresh_from_db()
    assert not meter.active
    assert meter.records.count() == 1

    client.post(reverse("plans:meter_reactivate", args=[meter.pk]))
    meter.refresh_from_db()
    assert meter.active


# --- Plans and prices -----------------------------------------------------------------------


def test_a_plan_made_on_the_pages_prices_usage_with_its_graduated_tiers(acme, billing_admin):
    client = client_for(billing_admin)
    response = client.post(
        reverse("plans:plan_create"),
        {
            "code": "growth",
            "name": "Growth",
            "currency": "INR",
            "monthly_fee": "40000",
            "tax_rate": "18",
        },
    )
    plan = Plan.objects.get(code="growth")
    assert response.url == reverse("plans:plan_detail", args=[plan.pk])
    assert (plan.monthly_fee, plan.tax_rate, plan.active) == (D("40000.00"), D("18.00"), True)

    egress = Meter.objects.get(code="egress_gb")
    response = client.post(
        reverse("plans:price_add", args=[plan.pk]),
        price_data(
            "graduated",
            tiers=[("1000", "4.50"), ("", "3.00")],
            included="100",
            meter=egress.pk,
            dimension_value="",
        ),
    )
    assert response.url == reverse("plans:plan_detail", args=[plan.pk])
    row = PlanPrice.objects.get(plan=plan, meter=egress)
    assert row.tiers == [
        {"up_to": "1000", "unit_price": "4.50"},
        {"up_to": None, "unit_price": "3.00"},
    ]

    Subscription.objects.create(tenant=acme, plan=plan, starts_on=OCT_1)
    # 1,600 GB: 100 included, 1,000 at ₹4.50, 500 at ₹3.00.
    assert rated_for(acme, egress, D("1600")) == D("6000.00")
    page = client.get(reverse("plans:plan_detail", args=[plan.pk]), {"quantity": "1600"})
    assert "₹6,000.00" in page.content.decode()

    response = client.post(
        reverse("plans:price_edit", args=[plan.pk, row.pk]),
        price_data("graduated", tiers=[("500", "5"), ("1000", "4"), ("", "2")]),
    )
    assert response.status_code == 302
    # Now nothing included: 500 at ₹5, 500 at ₹4, 600 at ₹2.
    assert rated_for(acme, egress, D("1600")) == D("5700.00")


def test_volume_tiers_price_every_unit_at_the_tier_the_total_reaches(acme, plan, billing_admin):
    Subscription.objects.create(tenant=acme, plan=plan, starts_on=OCT_1)
    egress = Meter.objects.get(code="egress_gb")
    row = PlanPrice.objects.get(plan=plan, meter=egress)
    client_for(billing_admin).post(
        reverse("plans:price_edit", args=[plan.pk, row.pk]),
        price_data("volume", tiers=[("1000", "4.50"), ("", "3.00")]),
    )
    assert rated_for(acme, egress, D("1600")) == D("4800.00")  # all 1,600 at ₹3.00
    assert rated_for(acme, egress, D("800")) == D("3600.00")  # all 800 at ₹4.50


def test_a_per_unit_price_replaces_the_tiers(acme, plan, billing_admin):
    Subscription.objects.create(tenant=acme, plan=plan, starts_on=OCT_1)
    egress = Meter.objects.get(code="egress_gb")
    row = PlanPrice.objects.get(plan=plan, meter=egress)
    client_for(billing_admin).post(
        reverse("plans:price_edit", args=[plan.pk, row.pk]),
        # The old tier rows are still on the page; per-unit pricing drops them.
        price_data("per_unit", unit_price="2.25", tiers=[("1000", "4.50"), ("", "3.00")]),
    )
    row.refresh_from_db()
    assert (row.model, row.unit_price, row.tiers) == ("per_unit", D("2.25"), [])
    assert rated_for(acme, egress, D("1000")) == D("2250.00")


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([("1000", "4.50"), ("500", "4.00"), ("", "3.00")], "Tier 2: bounds must increase."),
        ([("1000", "4.50"), ("5000", "3.00")], "The last tier must be open-ended"),
        ([("", "4.50"), ("1000", "3.00")], "Only the last tier can be open-ended."),
        ([("1000", "4.50"), ("", "-3.00")], "Tier 2: a price cannot be negative."),
        ([("0", "4.50"), ("", "3.00")], "Tier 1: bounds must increase."),
        ([], "Add at least one tier"),
        ([("1000", ""), ("", "3.00")], "Enter this tier&#x27;s unit price."),
        ([("a thousand", "4.50"), ("", "3.00")], "Enter a number."),
    ],
)
def test_bad_tiers_are_refused_with_a_message_and_nothing_saved(
    plan, billing_admin, tiers, message
):
    client = client_for(billing_admin)
    ram = Meter.objects.get(code="ram_gb_hours")
    response = client.post(
        reverse("plans:price_add", args=[plan.pk]),
        price_data("graduated", tiers=tiers, meter=ram.pk, dimension_value=""),
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not PlanPrice.objects.filter(plan=plan, meter=ram).exists()

    # The same tiers on an existing price leave it as it was.
    egress = PlanPrice.objects.get(plan=plan, meter__code="egress_gb")
    before = (egress.model, egress.tiers, egress.included_quantity)
    response = client.post(
        reverse("plans:price_edit", args=[plan.pk, egress.pk]), price_data("graduated", tiers=tiers)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    egress.refresh_from_db()
    assert (egress.model, egress.tiers, egress.included_quantity) == before


def test_a_per_unit_price_needs_a_unit_price(plan, billing_admin):
    ram = Meter.objects.get(code="ram_gb_hours")
    response = client_for(billing_admin).post(
        reverse("plans:price_add", args=[plan.pk]),
        price_data("per_unit", unit_price="", meter=ram.pk, dimension_value=""),
    )
    assert "Enter the price per unit." in response.content.decode()
    assert not PlanPrice.objects.filter(plan=plan, meter=ram).exists()


def test_a_per_unit_price_posts_without_tier_rows(plan, billing_admin):
    ram = Meter.objects.get(code="ram_gb_hours")
    response = client_for(billing_admin).post(
        reverse("plans:price_add", args=[plan.pk]),
        {"meter": ram.pk, "model": "per_unit", "unit_price": "0.35", "included_quantity": "0"},
    )
    assert response.status_code == 302
    assert PlanPrice.objects.get(plan=plan, meter=ram).unit_price == D("0.35")


def test_a_gpu_type_gets_its_own_price_once(acme, plan, billing_admin):
    gpu = Meter.objects.get(code="gpu_hours")
    client = client_for(billing_admin)
    url = reverse("plans:price_add", args=[plan.pk])
    client.post(url, price_data(unit_price="120", meter=gpu.pk, dimension_value="L4"))
    Subscription.objects.create(tenant=acme, plan=plan, starts_on=OCT_1)
    assert rated_for(acme, gpu, D("10"), "L4") == D("1200.00")
    assert rated_for(acme, gpu, D("10"), "T4") == D("900.00")  # the plan's every-type price

    response = client.post(url, price_data(unit_price="100", meter=gpu.pk, dimension_value="L4"))
    assert "Standard already prices GPU-hours for gpu_type L4" in response.content.decode()
    assert PlanPrice.objects.get(plan=plan, meter=gpu, dimension_value="L4").unit_price == D("120")


def test_a_meter_without_a_dimension_takes_no_dimension_value(plan, billing_admin):
    ram = Meter.objects.get(code="ram_gb_hours")
    response = client_for(billing_admin).post(
        reverse("plans:price_add", args=[plan.pk]),
        price_data(unit_price="0.5", meter=ram.pk, dimension_value="large"),
    )
    assert "has no dimension" in response.content.decode()
    assert not PlanPrice.objects.filter(meter=ram).exists()


def test_removing_a_gpu_type_price_falls_back_to_the_every_type_price(acme, plan, billing_admin):
    a100 = PlanPrice.objects.get(plan=plan, dimension_value="A100")
    response = client_for(billing_admin).post(
        reverse("plans:price_remove", args=[plan.pk, a100.pk]), follow=True
    )
    assert "now priced at the plan&#x27;s price for every gpu_type" in response.content.decode()
    Subscription.objects.create(tenant=acme, plan=plan, starts_on=OCT_1)
    gpu = Meter.objects.get(code="gpu_hours")
    assert rated_for(acme, gpu, D("10"), "A100") == D("900.00")


def test_the_plan_page_says_a_change_applies_to_invoices_generated_afterwards(plan, finance):
    body = client_for(finance).get(reverse("plans:plan_detail", args=[plan.pk])).content.decode()
    assert "applies to invoices generated from now on" in body
    assert "Graduated tiers" in body
    assert "0 to 1,000: ₹4.5 per GB" in body


def test_deactivating_a_plan_keeps_its_tenants_on_it(acme, plan, billing_admin):
    Subscription.objects.create(tenant=acme, plan=plan, starts_on=OCT_1)
    response = client_for(billing_admin).post(
        reverse("plans:plan_deactivate", args=[plan.pk]), follow=True
    )
    assert "The 1 subscription on it stay and are billed as before" in response.content.decode()
    plan.refresh_from_db()
    assert not plan.active
    assert Subscription.objects.get().ends_on is None
    assert plan not in SubscriptionForm().fields["plan"].queryset


def test_the_plan_list_counts_active_subscriptions(acme, globex, plan, finance):
    Subscription.objects.create(tenant=acme, plan=plan, starts_on=OCT_1)
    Subscription.objects.create(
        tenant=globex,
        plan=plan,
        starts_on=datetime.date(2024, 1, 1),
        ends_on=datetime.date(2024, 12, 31),
    )
    response = client_for(finance).get(reverse("plans:plan_list"))
    assert [(p.code, p.active_subscriptions) for p in response.context["plans"]] == [
        ("standard", 1)
    ]


def test_a_plan_edit_with_a_taken_code_is_refused(plan, billing_admin):
    other = Plan.objects.create(code="enterprise", name="Enterprise")
    response = client_for(billing_admin).post(
        reverse("plans:plan_edit", args=[other.pk]),
        {
            "code": "standard",
            "name": "Enterprise",
            "currency": "INR",
            "monthly_fee": "1",
            "tax_rate": "18",
        },
    )
    assert "already exists" in response.content.decode()
    other.refresh_from_db()
    assert (other.code, other.monthly_fee) == ("enterprise", D("0.00"))


# --- Who may do what ------------------------------------------------------------------------


def test_finance_reads_the_pages_but_cannot_change_anything(plan, finance):
    client = client_for(finance)
    meter = Meter.objects.get(code="vcpu_hours")
    price = PlanPrice.objects.filter(plan=plan).first()
    for url in [
        reverse("plans:plan_list"),
        reverse("plans:plan_detail", args=[plan.pk]),
        reverse("plans:meter_list"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "Add a price" not in response.content.decode()
        assert "New meter" not in response.content.decode()
    for url in [
        reverse("plans:plan_create"),
        reverse("plans:plan_edit", args=[plan.pk]),
        reverse("plans:plan_deactivate", args=[plan.pk]),
        reverse("plans:price_add", args=[plan.pk]),
        reverse("plans:price_edit", args=[plan.pk, price.pk]),
        reverse("plans:price_remove", args=[plan.pk, price.pk]),
        reverse("plans:meter_create"),
        reverse("plans:meter_edit", args=[meter.pk]),
        reverse("plans:meter_deactivate", args=[meter.pk]),
    ]:
        assert client.post(url, price_data(unit_price="1")).status_code == 403, url
    plan.refresh_from_db()
    assert plan.active
    assert PlanPrice.objects.filter(plan=plan).count() == 4


def test_customers_are_refused_every_page(plan, owner, viewer):
    price = PlanPrice.objects.filter(plan=plan).first()
    meter = Meter.objects.get(code="vcpu_hours")
    urls = [
        reverse("plans:plan_list"),
        reverse("plans:plan_create"),
        reverse("plans:plan_detail", args=[plan.pk]),
        reverse("plans:plan_edit", args=[plan.pk]),
        reverse("plans:price_add", args=[plan.pk]),
        reverse("plans:price_edit", args=[plan.pk, price.pk]),
        reverse("plans:meter_list"),
        reverse("plans:meter_create"),
        reverse("plans:meter_edit", args=[meter.pk]),
    ]
    for user in (owner, viewer):
        client = client_for(user)
        for url in urls:
            assert client.get(url).status_code == 403, url
            assert client.post(url, meter_data()).status_code == 403, url
    assert not Meter.objects.filter(code="nat_gateway_hours").exists()


def test_anonymous_visitors_are_sent_to_sign_in(client, plan):
    for url in [reverse("plans:plan_list"), reverse("plans:meter_list")]:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_the_plans_link_is_in_the_staff_navigation_only(billing_admin, finance, owner):
    link = f'href="{reverse("plans:plan_list")}"'
    assert link in client_for(billing_admin).get(reverse("invoices:list")).content.decode()
    assert link in client_for(finance).get(reverse("invoices:list")).content.decode()
    assert link not in client_for(owner).get(reverse("invoices:list")).content.decode()
