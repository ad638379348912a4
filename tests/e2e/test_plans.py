"""The plan and meter pages in the browser: a billing admin prices a meter and edits a meter,
finance reads without edit controls, and a customer is refused."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import assert_styled, main_nav, screenshot, sign_in
from usage.models import Meter, Plan, PlanPrice

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("demo")]


def heading(page: Page):
    return page.get_by_role("heading", level=1)


def price_row(page: Page, label: str):
    return page.locator("#price-table tbody tr").filter(
        has=page.get_by_role("cell", name=label, exact=True)
    )


def fill_price(page: Page, dimension: str, tiers: list[tuple[str, str]]) -> None:
    """Fill in the "Add a price" form: graduated GPU-hours for ``dimension``, one row per tier."""
    page.get_by_role("combobox", name="Meter", exact=True).select_option(label="GPU-hours")
    page.get_by_label("Dimension value").fill(dimension)
    page.get_by_role("combobox", name="Pricing", exact=True).select_option(label="Graduated tiers")
    for number, (up_to, unit_price) in enumerate(tiers, start=1):
        page.get_by_label(f"Tier {number}: Up to (units)").fill(up_to)
        page.get_by_label(f"Tier {number}: Unit price (₹)").fill(unit_price)


def test_a_billing_admin_adds_a_graduated_price_and_a_bad_tier_is_refused(page: Page):
    standard = Plan.objects.get(code="standard")
    prices_before = PlanPrice.objects.filter(plan=standard).count()
    sign_in(page, "admin")

    main_nav(page).get_by_text("Plans", exact=True).click()
    expect(heading(page)).to_have_text("Plans")
    page.locator("#plan-table").get_by_role("link", name="Standard", exact=True).click()
    expect(heading(page)).to_contain_text("Standard")
    page.get_by_role("link", name="Add a price").click()
    expect(heading(page)).to_have_text("Add a price")

    fill_price(page, "H100", [("500", "200"), ("", "150")])
    page.get_by_role("button", name="Add price").click()

    expect(page).to_have_url(re.compile(rf"/usage/plans/{standard.pk}/$"))
    expect(page.get_by_role("status")).to_contain_text("GPU-hours (H100) is priced on Standard.")
    row = price_row(page, "GPU-hours (H100)")
    expect(row).to_have_count(1)
    expect(row.get_by_role("cell").nth(1)).to_have_text("Graduated tiers")
    expect(row.get_by_role("cell").nth(2).locator("div")).to_have_text(
        ["0 to 500: ₹200 per GPU-hour", "above 500: ₹150 per GPU-hour"]
    )
    saved = PlanPrice.objects.get(plan=standard, meter__code="gpu_hours", dimension_value="H100")
    assert saved.model == "graduated"
    assert [(t["up_to"], t["unit_price"]) for t in saved.tiers] == [("500", "200"), (None, "150")]
    assert_styled(page)
    screenshot(page, "plan-graduated-price-added")

    # Bounds that go down are refused beside the tier rows; nothing is saved.
    page.get_by_role("link", name="Add a price").click()
    fill_price(page, "L4", [("500", "200"), ("100", "150"), ("", "120")])
    page.get_by_role("button", name="Add price").click()

    expect(heading(page)).to_have_text("Add a price")
    expect(page.locator("#tier-errors")).to_have_text("Tier 2: bounds must increase.")
    expect(page.get_by_role("alert")).to_contain_text("Tier 2: bounds must increase.")
    expect(page.get_by_label("Tier 2: Up to (units)")).to_have_value("100")  # kept to correct
    expect(page.get_by_role("status")).to_have_count(0)
    screenshot(page, "plan-price-descending-tiers")
    assert not PlanPrice.objects.filter(plan=standard, dimension_value="L4").exists()
    assert PlanPrice.objects.filter(plan=standard).count() == prices_before + 1

    page.get_by_role("link", name="Cancel").click()
    expect(price_row(page, "GPU-hours (L4)")).to_have_count(0)


def test_a_billing_admin_renames_a_meter_and_changes_its_sac(page: Page):
    sign_in(page, "admin")
    main_nav(page).get_by_text("Plans", exact=True).click()
    page.get_by_role("main").get_by_role("link", name="Meters").first.click()
    expect(heading(page)).to_have_text("Meters")

    row = page.locator("#meter-table tbody tr").filter(has_text="egress_gb")
    row.get_by_role("link", name="Edit").click()
    expect(heading(page)).to_have_text("Edit Network egress GB")
    # Usage records use the meter: its code is shown but fixed.
    expect(page.get_by_role("textbox", name="Code", exact=True)).to_have_attribute("readonly", "")

    # A goods (HSN) code is refused beside the field.
    page.get_by_role("textbox", name="SAC", exact=True).fill("8471")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#id_sac_code_error")).to_have_text(
        "Usage is a service: its SAC code starts with 99 (for example 998315)."
    )
    assert Meter.objects.get(code="egress_gb").sac_code == "998315"

    page.get_by_role("textbox", name="Name", exact=True).fill("Internet egress GB")
    page.get_by_role("textbox", name="SAC", exact=True).fill("998316")
    page.get_by_role("button", name="Save").click()

    expect(heading(page)).to_have_text("Meters")
    expect(page.get_by_role("status")).to_contain_text("Internet egress GB was saved.")
    cells = page.locator("#meter-table tbody tr").filter(has_text="egress_gb").get_by_role("cell")
    expect(cells.nth(1)).to_have_text("Internet egress GB")
    expect(cells.nth(4)).to_have_text("998316")
    meter = Meter.objects.get(code="egress_gb")
    assert (meter.name, meter.sac_code) == ("Internet egress GB", "998316")
    screenshot(page, "meter-edited")


def test_finance_reads_plans_without_edit_controls_and_a_customer_is_refused(page: Page):
    standard = Plan.objects.get(code="standard")
    sign_in(page, "finance")
    main_nav(page).get_by_text("Plans", exact=True).click()
    expect(heading(page)).to_have_text("Plans")
    main = page.get_by_role("main")
    plans = main.locator("#plan-table")
    expect(plans.get_by_role("link", name="Enterprise", exact=True)).to_be_visible()
    expect(main.get_by_role("link", name="New plan")).to_have_count(0)

    plans.get_by_role("link", name="Standard", exact=True).click()
    expect(heading(page)).to_contain_text("Standard")
    expect(price_row(page, "Network egress GB")).to_have_count(1)
    for name in ("Edit plan", "Add a price", "Edit"):
        expect(main.get_by_role("link", name=name, exact=True)).to_have_count(0)
    for name in ("Deactivate", "Remove"):
        expect(main.get_by_role("button", name=name)).to_have_count(0)

    page.goto("/usage/meters/")
    expect(heading(page)).to_have_text("Meters")
    expect(page.locator("#meter-table")).to_contain_text("vcpu_hours")
    expect(main.get_by_role("link", name="Edit")).to_have_count(0)
    expect(main.get_by_role("button")).to_have_count(0)
    response = page.goto(f"/usage/plans/{standard.pk}/prices/new/")
    assert response is not None
    assert response.status == 403

    page.context.clear_cookies()
    sign_in(page, "acme-owner")
    expect(heading(page)).to_have_text("Invoices")
    response = page.goto("/usage/plans/")
    assert response is not None
    assert response.status == 403
    expect(heading(page)).to_have_text("Your role cannot do that")
    expect(page.locator("#plan-table")).to_have_count(0)
    screenshot(page, "plans-customer-refused")
