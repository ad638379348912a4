"""Browser journeys: Debian's Chromium driven by Playwright against pytest-django's live server.

Every test gets a fresh browser context (no cookies carried over) on one Chromium shared by the
journeys, and a fresh copy of the demo data that ``seed_demo`` loads. A page that logs a
Content-Security-Policy violation or throws an uncaught script error fails its test.
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import override_settings
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

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
FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

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


@pytest.fixture(scope="package", autouse=True)
def _leave_the_database_as_migrated(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Put back what the migrations wrote once the journeys are done.

    A live-server test runs on ``transactional_db``, whose teardown empties every table (with
    serialized rollback it does not even recreate content types and permissions). The staff
    groups and their permissions exist only because data migrations made them: tests that run
    after the journeys would find no "Billing admin" group. Each journey gets the migrated rows
    back when it starts (serialized rollback, see ``page``); this puts them back after the last.
    """
    yield
    with django_db_blocker.unblock():
        for connection in connections.all():
            serialized = getattr(connection, "_test_serialized_contents", None)
            if serialized:
                connection.creation.deserialize_db_from_string(serialized)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # The real hasher spends half a second per sign-in by design; the journeys sign in dozens
    # of times. The form, the backend and the lockout run exactly as they do in production.
    settings.PASSWORD_HASHERS = FAST_PASSWORD_HASHERS


@pytest.fixture(scope="package")
def browser(django_db_setup) -> Iterator[Browser]:
    """One Chromium for the journeys, closed when they are done.

    Package scope, not session: while Playwright's sync API is open, this thread has a running
    asyncio loop, so ``asyncio.run`` and ``async_to_sync`` in tests that run later would fail.

    The running loop also makes Django (asgiref's thread-critical Local) hand this thread a new
    connection object, which lacks the snapshot of the migrated rows that the test-database
    setup stored on the first one; serialized rollback would then silently restore nothing.
    The snapshot is carried over to the connections the journeys use.
    """
    snapshots = {
        connection.alias: getattr(connection, "_test_serialized_contents", None)
        for connection in connections.all()
    }
    with pytest.MonkeyPatch.context() as env, sync_playwright() as playwright:
        # Django refuses ORM calls from a thread with a running loop unless told it is safe
        # (it is: the journeys and their fixtures do nothing concurrently). Only while it runs.
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        for alias, snapshot in snapshots.items():
            if snapshot is not None:
                connections[alias]._test_serialized_contents = snapshot
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
def page(
    browser: Browser, live_server, django_db_serialized_rollback, console_log: ConsoleLog
) -> Iterator[Page]:
    # Serialized rollback: each journey starts from the rows the data migrations wrote (staff
    # groups and their permissions), not from an empty database.
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
            with contextlib.suppress(PlaywrightError):
                page.evaluate("0")  # a round trip delivers console events still on their way
        assert not log.csp_violations, "The page broke its Content-Security-Policy:\n" + (
            "\n".join(log.csp_violations)
        )
        assert not log.page_errors, "A script threw:\n" + "\n".join(log.page_errors)
    return result


@pytest.fixture(scope="package")
def _demo_snapshot(django_db_setup, django_db_blocker, browser) -> str | None:
    """``seed_demo`` run once, serialized; None where the test database has no snapshot.

    Seeding takes a second or two (it issues, pays and emails invoices through the services);
    loading its serialized result takes a fifth of that, and each journey needs a fresh copy.
    (It needs ``browser``: the snapshot is taken on the connection the journeys use.)
    """
    connection = connections[DEFAULT_DB_ALIAS]
    migrated = getattr(connection, "_test_serialized_contents", None)
    if migrated is None:
        return None
    with (
        django_db_blocker.unblock(),
        override_settings(
            PASSWORD_HASHERS=FAST_PASSWORD_HASHERS,
            CELERY_TASK_ALWAYS_EAGER=True,  # as tests/conftest.py has it for every test
        ),
    ):
        call_command("seed_demo", verbosity=0)
        snapshot = connection.creation.serialize_db_to_string()
        # Back to the migrated rows only, as the tests before the journeys left it.
        # Keep the sequences past the snapshot's ids (flush resets them unless told not to).
        call_command(
            "flush",
            interactive=False,
            verbosity=0,
            inhibit_post_migrate=True,
            reset_sequences=False,
        )
        connection.creation.deserialize_db_from_string(migrated)
    return snapshot


@pytest.fixture
def demo(transactional_db, django_db_serialized_rollback, _demo_snapshot) -> None:
    """The demo data loaded by ``make demo`` (demo logins have the password "demo")."""
    if _demo_snapshot is None:
        call_command("seed_demo", verbosity=0)
    else:
        connections[DEFAULT_DB_ALIAS].creation.deserialize_db_from_string(_demo_snapshot)


def sign_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    """Fill in and submit the sign-in form (without checking where it leads)."""
    if not page.url.endswith("/accounts/login/"):
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
