"""Every test here runs the project's processes against a private PostgreSQL and Redis
(``tests/faults/stack.py``); it is skipped, with the reason, where their binaries are missing."""

import pytest

from tests.faults.fixtures import *  # noqa: F403 - the fixtures are the point of this module


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "stack: starts a private PostgreSQL, Redis and the project's processes"
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.is_relative_to(config.rootpath / "tests" / "faults"):
            item.add_marker(pytest.mark.stack)


@pytest.fixture(autouse=True)
def _private_database(stack_db):
    """Before any other fixture writes a row: every row goes to the private database."""
    return stack_db
