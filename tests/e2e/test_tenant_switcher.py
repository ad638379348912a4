"""A member of two organisations switches between them with the select in the top bar."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import main_nav, sign_in, user_menu

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("demo")]


def switch_to(page: Page, organisation: str) -> None:
    # No button: static/js/portal.js submits the form when the select changes.
    with page.expect_navigation():
        page.get_by_label("Organisation").select_option(label=organisation)


def test_acme_owner_switches_organisation_with_the_top_bar_select(page: Page):
    sign_in(page, "acme-owner")
    switcher = page.get_by_label("Organisation")
    expect(switcher.locator("option")).to_have_text(["Acme Cloud", "Acme Retail"])
    expect(switcher.locator("option:checked")).to_have_text("Acme Cloud")

    main_nav(page).get_by_text("Billing profile", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing profile · Acme Cloud")
    expect(page.get_by_role("button", name="Save billing profile")).to_be_visible()
    expect(user_menu(page).locator("small")).to_have_text("Owner")

    switch_to(page, "Acme Retail")

    # Switching on the billing profile shows the billing profile of the organisation chosen.
    expect(page).to_have_url(re.compile(r"/tenants/\d+/billing-profile/$"))
    expect(page.get_by_role("status")).to_have_text("Now showing Acme Retail.")
    expect(page.get_by_label("Organisation").locator("option:checked")).to_have_text("Acme Retail")
    expect(user_menu(page).locator("small")).to_have_text("Admin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing profile · Acme Retail")
    # An admin (not an owner) of Acme Retail reads the profile but cannot edit it.
    expect(page.get_by_text("30AAKFA2231B1ZG")).to_be_visible()
    expect(
        page.get_by_text("Only an owner of Acme Retail can change these details.")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Save billing profile")).to_have_count(0)

    # The choice sticks to the session, and switching back works from any page.
    page.goto("/usage/")
    expect(page.get_by_label("Organisation").locator("option:checked")).to_have_text("Acme Retail")
    switch_to(page, "Acme Cloud")
    expect(page).to_have_url(re.compile(r"/usage/$"))
    expect(page.get_by_role("status")).to_have_text("Now showing Acme Cloud.")
    main_nav(page).get_by_text("Billing profile", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing profile · Acme Cloud")
