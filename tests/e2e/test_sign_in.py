"""Signing in and out through the form, the navigation each role gets, and the lockout."""

import re

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from tests.e2e.conftest import assert_styled, main_nav, screenshot, sign_in, user_menu

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("demo")]

STAFF_NAV = ["Invoices", "Usage", "Payments", "Tenants", "Plans"]
CUSTOMER_NAV = ["Invoices", "Usage", "Payments", "Billing profile"]

# username, full name, role in the user menu, organisation in the top bar, navigation, landing page
DEMO_USERS = [
    ("admin", "Asha Kulkarni", "Billing admin", None, [*STAFF_NAV, "Settings"], "Tenants"),
    ("finance", "Farhan Sheikh", "Finance", None, STAFF_NAV, "Tenants"),
    ("acme-owner", "Anita Desai", "Owner", "Acme Cloud", CUSTOMER_NAV, "Invoices"),
    ("acme-viewer", "Vikram Rao", "Viewer", "Acme Cloud", CUSTOMER_NAV, "Invoices"),
    ("globex-owner", "Gauri Menon", "Owner", "Globex Analytics", CUSTOMER_NAV, "Invoices"),
]


def current_nav_item(page: Page):
    return page.locator('.mainnav a[aria-current="page"]')


def heading_of(label: str, organisation: str | None) -> str:
    """The page heading a navigation link leads to."""
    return {
        "Settings": "Provider settings",
        "Billing profile": f"Billing profile · {organisation}",
    }.get(label, label)


@pytest.mark.parametrize(
    ("username", "full_name", "role", "organisation", "navigation", "landing"),
    DEMO_USERS,
    ids=[user[0] for user in DEMO_USERS],
)
def test_each_demo_user_signs_in_and_sees_the_navigation_of_their_role(
    page: Page, username, full_name, role, organisation, navigation, landing
):
    sign_in(page, username)

    expect(page.get_by_role("heading", level=1)).to_have_text(landing)
    expect(main_nav(page)).to_have_text(navigation)
    expect(user_menu(page)).to_contain_text(full_name)
    expect(user_menu(page).locator("small")).to_have_text(role)
    if organisation is None:
        # Staff see every tenant: no organisation and no switcher in the top bar.
        expect(page.locator(".topbar-right .org-name, #tenant-switcher")).to_have_count(0)
    elif username == "acme-owner":
        # A member of two organisations gets the switcher (test_tenant_switcher.py).
        expect(page.locator("#tenant-switcher option:checked")).to_have_text(organisation)
    else:
        expect(page.locator(".topbar-right .org-name")).to_have_text(organisation)
    assert_styled(page)
    if username in ("admin", "acme-owner"):
        screenshot(page, f"landing-{username}")

    # Every link of the navigation opens its page, marked as the current one.
    for label in navigation:
        main_nav(page).get_by_text(label, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading_of(label, organisation))
        expect(current_nav_item(page)).to_have_text(label)


def test_wrong_passwords_are_refused_and_repeated_ones_lock_sign_in(page: Page):
    sign_in(page, "globex-owner", "guess")

    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("alert")).to_contain_text(
        "Please enter a correct username and password"
    )
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    assert_styled(page)
    screenshot(page, "login-refused")

    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        sign_in(page, "globex-owner", "guess")
        expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username")

    # The account is now locked: the right password does not get in either.
    sign_in(page, "globex-owner")

    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Too many failed sign-in attempts.")
    minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
    expect(alert).to_contain_text(f"Sign-in is locked for {minutes} minutes")
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    screenshot(page, "login-locked")

    # Another account from the same address is not locked by one account's failures.
    sign_in(page, "acme-viewer")
    expect(page.get_by_role("heading", level=1)).to_have_text("Invoices")


def test_sign_out_ends_the_session(page: Page):
    sign_in(page, "finance")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tenants")

    user_menu(page).click()
    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    # The session is gone: a page behind sign-in sends the browser back to the form.
    page.goto("/tenants/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/tenants/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
