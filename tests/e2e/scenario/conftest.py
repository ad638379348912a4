"""The month-in-the-life scenario runs the project's processes against a private PostgreSQL and
Redis (the fault tests' harness, ``tests/faults/stack.py``), and drives them with Chromium.

It is skipped, with the reason, where the PostgreSQL server binaries, redis-server or Chromium are
missing; everywhere else (CI's ``make test`` included) it runs.
"""

import os

import pytest
from django.db import connections

from tests.e2e.conftest import CHROMIUM
from tests.faults.fixtures import *  # noqa: F403 - the harness's fixtures are the point


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "stack: starts a private PostgreSQL, Redis and the project's processes"
    )


@pytest.fixture
def _no_connection_left(django_db_blocker):
    """Close this thread's connections after the test's database is put back.

    The journeys' browser runs an event loop in this thread, under which Django hands out
    connection objects of their own: one left open on the shared test database would outlive
    the loop, and keep that database from being dropped at the end of the run."""
    yield
    with django_db_blocker.unblock():
        connections.close_all()


@pytest.fixture(autouse=True)
def _private_database(_no_connection_left, stack_db):
    """Before any other fixture writes a row: every row goes to the private database."""
    return stack_db


@pytest.fixture(scope="session", autouse=True)
def _chromium_installed():
    # Session scope: checked before the journeys' package-scoped browser is launched.
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM}: apt-get install chromium")
