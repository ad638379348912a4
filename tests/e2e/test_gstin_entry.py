"""A bad GSTIN typed into a form is refused beside the field, and nothing is saved."""

import re

import pytest
from playwright.sync_api import Page, expect

from tenants.models import Tenant
from tests.e2e.conftest import assert_styled, main_nav, screenshot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("demo")]

ACME_GSTIN = "27AAACA7412M1ZN"  # seed_demo's Acme Cloud, Maharashtra (27)
TYPO_MESSAGE = "The check character does not match: the GSTIN has a typing mistake."


def control(page: Page, label: str):
    """A form control by its accessible name (the label without the required-field star)."""
    return page.get_by_role("textbox", name=label, exact=True).or_(
        page.get_by_role("combobox", name=label, exact=True)
    )


def field_of(page: Page, label: str):
    """The .field block (label, input, help and errors) of one form field."""
    return page.locator(".field").filter(has=control(page, label))


def expect_refused(page: Page, label: str, message: str) -> None:
    expect(page.get_by_role("alert")).to_have_text(
        "Nothing was saved: correct the fields marked below."
    )
    field = field_of(page, label)
    expect(field).to_have_class(re.compile(r"\bfield-error\b"))
    expect(field.locator(".error")).to_have_text(message)
    expect(control(page, label)).to_have_attribute("aria-invalid", "true")
    # Announced with the field: the error is part of the input's accessible description.
    expect(control(page, label)).to_have_accessible_description(re.compile(re.escape(message)))


OTHER_STATE_MESSAGE = (
    "This GSTIN is registered in Karnataka (29), but the state chosen is Maharashtra (27). "
    "The place of supply is the state of registration."
)


def save_profile(page: Page, *, gstin: str, city: str) -> None:
    control(page, "GSTIN").fill(gstin)
    control(page, "City").fill(city)  # a valid change in the same post
    page.get_by_role("button", name="Save billing profile").click()


def expect_acme_unchanged() -> None:
    acme = Tenant.objects.get(display_name="Acme Cloud")
    assert (acme.gstin, acme.city) == (ACME_GSTIN, "Mumbai")


def test_owner_entering_a_bad_gstin_on_the_billing_profile_is_refused_until_corrected(
    page: Page,
):
    sign_in(page, "acme-owner")
    main_nav(page).get_by_text("Billing profile", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing profile · Acme Cloud")
    expect(control(page, "GSTIN")).to_have_value(ACME_GSTIN)

    # A typing mistake: the check character does not match.
    save_profile(page, gstin="27AAACA7412M1ZQ", city="Navi Mumbai")

    expect_refused(page, "GSTIN", TYPO_MESSAGE)
    # The form gives back what was typed so it can be corrected, not the stored value.
    expect(control(page, "GSTIN")).to_have_value("27AAACA7412M1ZQ")
    expect(control(page, "City")).to_have_value("Navi Mumbai")
    assert_styled(page)
    screenshot(page, "billing-profile-bad-gstin")
    expect_acme_unchanged()

    # A well-formed GSTIN, but registered in Karnataka while the address is in Maharashtra.
    save_profile(page, gstin="29AAACA7412M1ZJ", city="Navi Mumbai")

    expect_refused(page, "GSTIN", OTHER_STATE_MESSAGE)
    expect_acme_unchanged()

    # Corrected (typed in lower case: the form upper-cases it before validating; not with
    # spaces, which the input's maxlength of 15 would cut short before the form strips them).
    save_profile(page, gstin="27aaaca7412m1zn", city="Navi Mumbai")

    expect(page.get_by_role("status")).to_have_text(
        "Your billing profile was saved. New invoices will use it."
    )
    expect(page.locator(".field .error")).to_have_count(0)
    expect(control(page, "GSTIN")).to_have_value(ACME_GSTIN)
    acme = Tenant.objects.get(display_name="Acme Cloud")
    assert (acme.gstin, acme.city) == (ACME_GSTIN, "Navi Mumbai")


def fill_new_tenant(page: Page, *, gstin: str) -> None:
    control(page, "Display name").fill("Wayne Compute")
    control(page, "Legal name").fill("Wayne Compute Private Limited")
    control(page, "GSTIN").fill(gstin)
    control(page, "Address line 1").fill("80 Feet Road, Koramangala")
    control(page, "City").fill("Bengaluru")
    control(page, "State").select_option("29")
    control(page, "PIN code").fill("560034")
    control(page, "Billing email").fill("ap@wayne.example")


def test_billing_admin_creating_a_tenant_with_a_bad_gstin_is_refused(page: Page):
    tenants_before = Tenant.objects.count()
    sign_in(page, "admin")
    page.get_by_role("link", name="New tenant").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New tenant")

    fill_new_tenant(page, gstin="29AABCW1234E1ZA")  # check character should be L
    page.get_by_role("button", name="Create tenant").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("New tenant")
    expect_refused(page, "GSTIN", TYPO_MESSAGE)
    # Everything else typed is kept, so only the GSTIN needs retyping.
    expect(control(page, "Display name")).to_have_value("Wayne Compute")
    expect(control(page, "State")).to_have_value("29")
    screenshot(page, "tenant-create-bad-gstin")
    assert Tenant.objects.count() == tenants_before
    assert not Tenant.objects.filter(display_name="Wayne Compute").exists()

    control(page, "GSTIN").fill("29AABCW1234E1ZL")
    page.get_by_role("button", name="Create tenant").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Wayne Compute")
    expect(page.get_by_role("status")).to_have_text(
        "Wayne Compute was created. Add its owner next."
    )
    assert Tenant.objects.get(display_name="Wayne Compute").gstin == "29AABCW1234E1ZL"
