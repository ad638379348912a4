"""The usage dashboard in the browser: staff pick a customer and a period; a customer sees theirs.

The journey adds a few records of its own through the ORM (on top of whatever usage the demo has)
and checks the page's figures against the database's, so it holds whatever else the demo holds.
"""

import datetime
import re
from decimal import Decimal

import pytest
from django.db.models import Sum
from playwright.sync_api import Page, expect

from invoices.generation import IST
from tenants.models import Tenant
from tests.e2e.conftest import assert_styled, main_nav, screenshot, sign_in
from usage.models import Meter, UsageRecord
from usage.selectors import format_quantity

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("demo")]

D = Decimal


def add(tenant: Tenant, meter: str, quantity: str, day: datetime.date, resource: str, gpu=""):
    start = datetime.datetime.combine(day, datetime.time(9), IST)
    UsageRecord.objects.create(
        tenant=tenant,
        meter=Meter.objects.get(code=meter),
        resource_id=resource,
        resource_name=resource,
        region="ap-south-1",
        dimension_value=gpu,
        quantity=D(quantity),
        window_start=start,
        window_end=start + datetime.timedelta(hours=1),
        idempotency_key=f"e2e-{resource}-{day}",
    )


def month_total(tenant: Tenant, meter: str, first: datetime.date, gpu: str | None = None) -> str:
    """The tenant's quantity of ``meter`` from ``first`` to the end of its month, as shown."""
    end = (first.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    records = UsageRecord.objects.filter(
        tenant=tenant,
        meter__code=meter,
        window_start__gte=datetime.datetime.combine(first, datetime.time(), IST),
        window_start__lt=datetime.datetime.combine(end, datetime.time(), IST),
    )
    if gpu is not None:
        records = records.filter(dimension_value=gpu)
    return format_quantity(records.aggregate(total=Sum("quantity"))["total"])


@pytest.fixture
def usage():
    """Records of Acme Cloud for today and for last month, and one of Globex for today."""
    today = datetime.datetime.now(IST).date()
    this_month = today.replace(day=1)
    last_month = (this_month - datetime.timedelta(days=1)).replace(day=1)
    acme = Tenant.objects.get(display_name="Acme Cloud")
    globex = Tenant.objects.get(display_name="Globex Analytics")
    add(acme, "vcpu_hours", "1800.5", today, "e2e-web-big")
    add(acme, "egress_gb", "240", today, "e2e-edge-big")
    add(acme, "gpu_hours", "12", last_month + datetime.timedelta(days=4), "e2e-a100", "A100")
    add(globex, "vcpu_hours", "55555", today, "e2e-globex-secret")
    return {"acme": acme, "globex": globex, "this_month": this_month, "last_month": last_month}


def meter_row(page: Page, label: str):
    return page.locator("#meter-totals tbody tr").filter(
        has=page.locator("td:nth-child(2)", has_text=re.compile(f"^{re.escape(label)}$"))
    )


def test_staff_pick_a_customer_and_a_period_and_see_the_chart_and_totals(page: Page, usage):
    acme, last_month = usage["acme"], usage["last_month"]
    sign_in(page, "finance")
    main_nav(page).get_by_text("Usage", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Usage")
    expect(page.locator("#usage-scope")).to_contain_text("All customers")
    expect(page.locator("#usage-chart")).to_be_visible()
    expect(page.locator("#top-resources")).to_contain_text("e2e-globex-secret")
    assert_styled(page)
    screenshot(page, "usage-staff-all")

    page.get_by_label("Customer").select_option(label="Acme Cloud")
    expect(page.locator("#usage-scope")).to_contain_text("Acme Cloud")
    expect(page).to_have_url(re.compile(rf"tenant={acme.pk}"))
    projection = page.locator("#projection")
    expect(projection).to_contain_text("Proforma estimate · not a tax invoice")
    expect(page.locator("#cost-so-far")).to_have_text(re.compile(r"^₹[\d,]+\.\d\d$"))
    expect(page.locator("#projected-total")).to_have_text(re.compile(r"^₹[\d,]+\.\d\d$"))
    expect(meter_row(page, "vCPU-hours").locator("td").nth(2)).to_have_text(
        month_total(acme, "vcpu_hours", usage["this_month"])
    )
    expect(page.locator("#top-resources")).to_contain_text("e2e-web-big")
    expect(page.locator("#top-resources")).not_to_contain_text("e2e-globex-secret")
    page.get_by_text("Lines and GST of the estimate").click()
    lines = page.locator("#projection-lines")
    expect(lines).to_be_visible()
    expect(lines.locator("tfoot tr").last).to_contain_text("Total")
    screenshot(page, "usage-staff-acme-this-month")

    page.get_by_label("Period", exact=True).select_option(label="Last month")
    expect(page).to_have_url(re.compile(r"period=last_month"))
    expect(page.locator("#usage-scope")).to_contain_text(f"{last_month.day} {last_month:%b %Y}")
    gpu = page.locator('#usage-chart g[data-category="gpu"]')
    expect(gpu).to_have_count(1)
    expect(gpu.locator("rect.bar").first).to_be_visible()
    expect(meter_row(page, "GPU-hours · A100").locator("td").nth(2)).to_have_text(
        month_total(acme, "gpu_hours", last_month, gpu="A100")
    )
    expect(page.locator("#top-resources")).to_contain_text("e2e-a100")
    expect(page.locator("#top-resources")).not_to_contain_text("e2e-web-big")  # this month's
    screenshot(page, "usage-staff-acme-last-month")

    # The filtered view is a plain link too: a reload shows the same figures.
    page.reload()
    expect(page.get_by_label("Period", exact=True)).to_have_value("last_month")
    expect(page.get_by_label("Customer")).to_have_value(str(acme.pk))


def test_a_customer_sees_their_own_usage_only(page: Page, usage):
    acme, globex = usage["acme"], usage["globex"]
    sign_in(page, "acme-viewer")
    main_nav(page).get_by_text("Usage", exact=True).click()

    expect(page.locator("#usage-scope")).to_contain_text("Acme Cloud")
    expect(page.get_by_label("Customer")).to_have_count(0)
    expect(page.locator("#usage-chart")).to_be_visible()
    expect(page.locator('#usage-chart rect.bar[data-category="compute"]').first).to_be_visible()
    expect(meter_row(page, "vCPU-hours").locator("td").nth(2)).to_have_text(
        month_total(acme, "vcpu_hours", usage["this_month"])
    )
    expect(page.locator("#projection")).to_contain_text("not a tax invoice")
    expect(page.locator("body")).not_to_contain_text("e2e-globex-secret")
    expect(page.locator("body")).not_to_contain_text("Globex")
    assert_styled(page)
    screenshot(page, "usage-customer")

    # Another tenant's usage cannot be asked for by id.
    response = page.goto(f"/usage/?tenant={globex.pk}")
    assert response is not None
    assert response.status == 404
