"""The export benchmarks' data set: the invoice list's million invoices, in a database of its own.

``bench/_invoice_data.py`` knows how to build 1,000,000 consistent invoices over 5,000 tenants; this
module only points that loader at ``billing_bench_exports``, so the export benchmarks never drop
or rebuild the database another benchmark is reading. Only that database is ever dropped.
"""

from __future__ import annotations

import datetime

import psycopg

from bench import _invoice_data as invoice_data

DB_NAME = "billing_bench_exports"
ADMIN_DSN = invoice_data.ADMIN_DSN
BENCH_DSN = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"


def cached_marker(today: datetime.date) -> dict[str, str] | None:
    """The marker of a usable cached copy (same data version, fresh, complete), or None."""
    try:
        conn = psycopg.connect(BENCH_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError:
        return None
    with conn:
        try:
            marker = dict(conn.execute("SELECT key, value FROM bench_marker").fetchall())
        except psycopg.errors.UndefinedTable:
            return None
        if marker.get("version") != invoice_data.DATA_VERSION or marker.get("complete") != "yes":
            return None
        built_on = datetime.date.fromisoformat(marker.get("today", "1970-01-01"))
        if not 0 <= (today - built_on).days <= invoice_data.MAX_AGE_DAYS:
            return None
        (count,) = conn.execute("SELECT count(*) FROM invoices_invoice").fetchone() or (0,)
    return marker if count == invoice_data.INVOICES else None


def recreate_database() -> None:
    """Drop and create DB_NAME (and nothing else)."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def build_if_needed(today: datetime.date, *, rebuild: bool) -> bool:
    """With Django set up on DB_NAME (after ``recreate_database`` when needed): migrate, load the
    million invoices unless a usable copy is there; return whether it was built now."""
    from django.core.management import call_command
    from django.db import connection

    assert connection.settings_dict["NAME"] == DB_NAME
    call_command("migrate", interactive=False, verbosity=0)
    if not rebuild and cached_marker(today) is not None:
        return False
    seconds = invoice_data.build(today)
    invoice_data.write_marker(today, seconds)
    print(f"   built in {seconds:.0f} s", flush=True)
    return True
