"""The start of a process that drafts chunks of a monthly run for ``generate_invoices
--processes``: imported before Django is set up, so nothing here imports models."""

import django


def start(database_name: str) -> None:
    """Set Django up on the parent's database (under the tests, the test database)."""
    django.setup()
    from django.db import connections

    connections["default"].settings_dict["NAME"] = database_name
