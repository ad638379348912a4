"""Browser journeys: Debian's Chromium driven by Playwright against pytest-django's live server.

Every test gets a fresh browser context (no cookies carried over) on a browser shared by the
session, and the demo data loaded by ``seed_demo``. A page that logs a Content-Security-Policy
violation or throws an uncaught script error fails the test that opened it.
"""

import importlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

# Playwright's sync API runs an asyncio loop in this thread, and Django refuses ORM calls from a
# thread with a running loop unless told it is safe (it is: nothing here is concurrent).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DEMO_PASSWORD = "demo"  # seed_demo's documented password

# Fail fast: a journey that waits 30 s for a missing element only slows the run down.
expect.set_options(timeout=5_000)

# Chromium reports the violation on the console; the init script below also reports the DOM
# event, so a violation Chromium stops logging (or logs in other words) is still caught.
CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(
    "CSP violation: " + event.violatedDirective + " blocked " + (event.blockedURI || "inline")
  );
});
"""

# Frozen group -> permissions table of the migration that creates the staff roles.
_staff_groups_migration = importlib.import_module("tenants.migrations.0002_staff_groups")


def ensure_staff_groups() -> None:
    """Recreate the staff groups the data migration made.

    A live-server test runs on ``transactional_db``, whose teardown empties every table; the
    post-migrate signal brings back content types and permissions but not the groups, which only
    the migration creates. Without this, the second journey (and any later transactional test)
    finds no "Billing admin" group.
    """
    for name, perms in _staff_groups_migration.GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


@pytest.fixture(scope="module", autouse=True)
def _restore_staff_groups(django_db_setup, django_db_blocker) -> Iterator[None]:
    # Torn down after the module's last test has been flushed: leave the test database as the
    # migrations made it for whichever tests run next.
    yield
    with django_db_blocker.unblock():
        ensure_staff_groups()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@dataclass
class ConsoleLog:
    """What the pages of one test said on the console, and the script errors they threw."""

    messages: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def record(self, message: ConsoleMessage) -> None:
        self.messages.append(f"[{message.type}] {message.text} ({message.location.get('url')})")

    @property
    def errors(self) -> list[str]:
        return [m for m in self.messages if m.startswith("[error]")]

    @property
    def csp_violations(self) -> list[str]:
        return [
            m
            for m in self.messages
            if "Content Security Policy" in m or "Content-Security-Policy" in m or "CSP " in m
        ]


@pytest.fixture
def console_log() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def page(browser: Browser, live_server, console_log: ConsoleLog) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 860}, locale="en-GB"
    )
    context.set_default_timeout(5_000)
    context.set_default_navigation_timeout(10_000)
    context.add_init_script(CSP_REPORTER)
    page = context.new_page()
    page.on("console", console_log.record)
    page.on("pageerror", lambda error: console_log.page_errors.append(str(error)))
    yield page
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail (not error) the test whose pages broke the CSP or threw a script error."""
    result = yield
    funcargs = getattr(item, "funcargs", {})
    page, log = funcargs.get("page"), funcargs.get("console_log")
    if page is not None and log is not None:
        if not page.is_closed():
            page.evaluate("0")  # a round trip delivers console events still on their way
        assert not log.csp_violations, "The page broke its Content-Security-Policy:\n" + (
            "\n".join(log.csp_violations)
        )
        assert not log.page_errors, "A script threw:\n" + "\n".join(log.page_errors)
    return result


@pytest.fixture
def demo(transactional_db) -> None:
    """The demo data: provider, seven tenants and the five demo logins (password "demo")."""
    ensure_staff_groups()
    call_command("seed_demo", verbosity=0)


def sign_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    """Fill in and submit the sign-in form (without checking where it leads)."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def main_nav(page: Page):
    return page.get_by_role("navigation", name="Main").get_by_role("link")


def user_menu(page: Page):
    return page.locator("details.usermenu > summary")


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_styled(page: Page) -> None:
    """portal.css was applied: the top bar has the brand colour, not the browser's defaults."""
    expect(page.locator("header.topbar")).to_have_css("background-color", "rgb(31, 78, 140)")
