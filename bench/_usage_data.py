"""The usage benchmarks' data: tenants on plans, and a month of generated usage records.

Everything lives in a PostgreSQL database of its own per scale (``billing_bench_usage``, or
``billing_bench_usage_large`` for ``BENCH_SCALE=large``), created and migrated when missing. The
catalogue (tenants, plans, prices, subscriptions, overrides, one-time charges) is built once by SQL
and reused while its marker matches. The usage records come from one deterministic SQL generator
(hashes of the record number, no random()) written out in two forms, both kept under
``var/bench/``:

* ``*.csv``: what a billing admin would import (the importer's columns, ``gpu_type`` as a
  dimension column), and, as JSON batches, what a producer would post to the HTTP API;
* ``*.copy``: the same rows as the table stores them (PostgreSQL COPY text format), for the raw
  COPY baselines.

A checksum over every stored column of every record (not ``id``, ``source``, ``received_at``)
shows that two ways of loading stored the same rows.

Only the database named by ``DB_NAME`` is ever dropped or created.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
FILES = ROOT / "var" / "bench"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

# Bump whenever the catalogue or the generated records change shape.
DATA_VERSION = "usage-v1"
PERIOD = "2026-10"  # the month billed; records also fall in September (late) and November
IST = "Asia/Kolkata"


@dataclass(frozen=True)
class Scale:
    name: str
    tenants: int
    records: int  # imported, and billed by the monthly run
    http_records: int  # posted to the HTTP API
    runs: int  # timed rounds of each measurement (the median is reported)


SCALES = {
    # One tenth of the large run in both tenants and records: the same records per tenant.
    "standard": Scale("standard", tenants=1_000, records=1_000_000, http_records=200_000, runs=3),
    "large": Scale("large", tenants=10_000, records=10_000_000, http_records=1_000_000, runs=1),
    # Checks that the benchmarks work end to end in a minute; writes no results.
    "smoke": Scale("smoke", tenants=50, records=20_000, http_records=10_000, runs=1),
}


def scale() -> Scale:
    name = os.environ.get("BENCH_SCALE", "standard") or "standard"
    if name not in SCALES:
        raise SystemExit(f"BENCH_SCALE={name!r}: use one of {', '.join(SCALES)}")
    chosen = SCALES[name]
    runs = os.environ.get("BENCH_RUNS")
    if runs:
        chosen = Scale(chosen.name, chosen.tenants, chosen.records, chosen.http_records, int(runs))
    return chosen


def db_name(s: Scale) -> str:
    return "billing_bench_usage" if s.name == "standard" else f"billing_bench_usage_{s.name}"


def dsn(s: Scale) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{db_name(s)}"


def database_url(s: Scale) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{db_name(s)}"


def _log(message: str) -> None:
    print(f"   {message}", flush=True)


# --- Before Django: the database ---------------------------------------------------------------


def _catalogue_marker(s: Scale) -> str:
    return f"{DATA_VERSION}:{s.tenants}"


def prepare_database(s: Scale) -> bool:
    """Create the scale's database when it is missing or holds another catalogue; True when the
    catalogue must be built (after migrating)."""
    try:
        conn = psycopg.connect(dsn(s), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError:
        _create_database(s, drop=False)
        return True
    with conn:
        try:
            row = conn.execute(
                "SELECT value FROM bench_usage_marker WHERE key = 'catalogue'"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            row = None
    if row and row[0] == _catalogue_marker(s):
        return False
    _create_database(s, drop=True)
    return True


def _create_database(s: Scale, *, drop: bool) -> None:
    name = db_name(s)
    print(f"-- creating database {name}", flush=True)
    for stale in FILES.glob(f"{DATA_VERSION}-{s.tenants}t-*"):
        stale.unlink()  # generated against the old database's ids
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        if drop:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# --- With Django set up: the catalogue ---------------------------------------------------------

PLANS = [
    # code, name, monthly fee (rupees)
    ("starter", "Starter", "4999"),
    ("growth", "Growth", "19999"),
    ("scale", "Scale", "74999"),
]
# (meter code, dimension value, model, unit price, tiers, included) for every plan, the price
# scaled by the plan (cheaper per unit on bigger plans).
PRICES = [
    ("vcpu_hours", "", "per_unit", "1.20", [], "0"),
    ("ram_gb_hours", "", "per_unit", "0.15", [], "100"),
    (
        "block_storage_gb_months",
        "",
        "graduated",
        "0",
        [{"up_to": "1000", "unit_price": "8"}, {"up_to": None, "unit_price": "6"}],
        "50",
    ),
    ("object_storage_gb_months", "", "per_unit", "2.10", [], "0"),
    ("ingress_gb", "", "per_unit", "0", [], "0"),
    (
        "egress_gb",
        "",
        "graduated",
        "0",
        [{"up_to": "1000", "unit_price": "4.50"}, {"up_to": None, "unit_price": "3.00"}],
        "100",
    ),
    ("gpu_hours", "A100", "per_unit", "180", [], "0"),
    ("gpu_hours", "H100", "per_unit", "320", [], "0"),
    (
        "gpu_hours",
        "",
        "volume",
        "0",
        [{"up_to": "100", "unit_price": "90"}, {"up_to": None, "unit_price": "75"}],
        "0",
    ),
]
PLAN_FACTOR = {"starter": "1.00", "growth": "0.90", "scale": "0.80"}
STATES = ["27", "29", "07", "33", "36", "24", "19", "09", "32", "04"]  # 27: the supplier's

TENANTS_SQL = """
INSERT INTO tenants_tenant (
    address_line1, address_line2, city, state, pin_code, display_name, legal_name, gstin,
    billing_email, finance_email, phone, currency, payment_terms_days, status, status_changed_at,
    status_reason, auto_suspended, created_at, updated_at)
SELECT 'Unit ' || (1 + n %% 400) || ', Tech Park', '', 'City ' || (n %% 50), s.state, '560001',
    'Bench Tenant ' || lpad(n::text, 5, '0'), 'Bench Tenant ' || n || ' Private Limited', '',
    'billing@tenant-' || n || '.example', '', '', 'INR', CASE WHEN n %% 4 = 0 THEN 30 ELSE 15 END,
    'active', NULL, '', false, now() - interval '400 days', now()
FROM generate_series(0, %(last)s) AS n
CROSS JOIN LATERAL (SELECT (%(states)s::text[])[1 + n %% %(n_states)s] AS state) AS s
ORDER BY n
"""

# Every tenant on a plan covering the period; one in twenty started during it (a prorated fee).
SUBSCRIPTIONS_SQL = """
INSERT INTO usage_subscription (tenant_id, plan_id, starts_on, ends_on, created_at)
SELECT t.id, (%(plans)s::bigint[])[1 + (t.id %% 3)],
    CASE WHEN t.id %% 20 = 7 THEN DATE '2026-10-11' ELSE DATE '2026-01-01' END, NULL, now()
FROM tenants_tenant t
"""

# One tenant in ten has its own vCPU price.
OVERRIDES_SQL = """
INSERT INTO usage_priceoverride (tenant_id, meter_id, dimension_value, model, unit_price, tiers,
    included_quantity)
SELECT t.id, %(vcpu)s, '', 'per_unit', 1.00, '[]'::jsonb, 0
FROM tenants_tenant t WHERE t.id %% 10 = 3
"""

# One tenant in twenty bought hardware this month.
CHARGES_SQL = """
INSERT INTO usage_onetimecharge (tenant_id, description, sac_code, quantity, unit, unit_price,
    tax_rate, invoice_line_id, created_by_id, created_at)
SELECT t.id, 'Hardware: 1U compute server', '998315', 1, 'unit', 245000, 18, NULL, NULL,
    TIMESTAMPTZ '2026-10-15 12:00+05:30'
FROM tenants_tenant t WHERE t.id %% 20 = 11
"""


def build_catalogue(s: Scale) -> None:
    """Provider, plans and prices, tenants, subscriptions, overrides, one-time charges."""
    from decimal import Decimal

    from django.db import connection, transaction

    from tenants.models import ProviderProfile
    from usage.models import Meter, Plan, PlanPrice

    meters = {m.code: m for m in Meter.objects.all()}
    with transaction.atomic():
        ProviderProfile.objects.update_or_create(
            pk=1,
            defaults={
                "legal_name": "Cirrus Cloud Services Private Limited",
                "gstin": "27AAHCC4821K1ZJ",
                "pan": "AAHCC4821K",
                "email": "billing@cirrus.example",
                "address_line1": "Panchshil Tech Park",
                "city": "Pune",
                "state": "27",
                "pin_code": "411006",
                "invoice_number_prefix": "CRS",
            },
        )
        plan_ids = []
        for code, name, fee in PLANS:
            plan = Plan.objects.create(code=code, name=name, monthly_fee=Decimal(fee))
            plan_ids.append(plan.pk)
            factor = Decimal(PLAN_FACTOR[code])
            for meter, dimension, model, price, tiers, included in PRICES:
                PlanPrice.objects.create(
                    plan=plan,
                    meter=meters[meter],
                    dimension_value=dimension,
                    model=model,
                    unit_price=Decimal(price) * factor,
                    tiers=[
                        {"up_to": t["up_to"], "unit_price": str(Decimal(t["unit_price"]) * factor)}
                        for t in tiers
                    ],
                    included_quantity=Decimal(included),
                )
        with connection.cursor() as cursor:
            cursor.execute(
                TENANTS_SQL,
                {"last": s.tenants - 1, "states": STATES, "n_states": len(STATES)},
            )
            cursor.execute("SELECT min(id), max(id), count(*) FROM tenants_tenant")
            first, last, count = cursor.fetchone()
            assert count == s.tenants
            assert last - first + 1 == count, "tenant ids not contiguous"
            cursor.execute(SUBSCRIPTIONS_SQL, {"plans": plan_ids})
            cursor.execute(OVERRIDES_SQL, {"vcpu": meters["vcpu_hours"].pk})
            cursor.execute(CHARGES_SQL, {})
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS bench_usage_marker"
                " (key text PRIMARY KEY, value text NOT NULL)"
            )
            cursor.execute("DELETE FROM bench_usage_marker")
            cursor.execute(
                "INSERT INTO bench_usage_marker VALUES ('catalogue', %s)", [_catalogue_marker(s)]
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    _log(f"catalogue: {s.tenants:,} tenants on {len(PLANS)} plans")


# --- Invoice history ---------------------------------------------------------------------------

HISTORY_MONTHS = 6  # April to September 2026, billed before the benchmark's month
HISTORY_LINES = 18  # about as many as the run makes a draft

# Every tenant's paid subscription invoices of the months before, with their lines: a portal that
# has billed for a while. (With the invoice tables empty and analyzed as empty, PostgreSQL plans
# the foreign-key checks on invoice lines as sequential scans, which no portal in use sees.)
HISTORY_INVOICES_SQL = """
INSERT INTO invoices_invoice (kind, status, number, financial_year, sequence, period_start,
    period_end, issue_date, due_date, currency, subtotal, discount, taxable_value, cgst, sgst,
    igst, tax_total, round_off, total, amount_paid, amount_refunded, balance_due,
    regular_charges, additional_charges, line_count, place_of_supply, state_tax_name, supplier,
    customer, notes, created_at, updated_at, finalized_at, approved_at, sent_at, sent_to, paid_at,
    voided_at, void_reason, disputed, approved_by_id, created_by_id, regenerated_from_id,
    tenant_id, intra_state)
SELECT 'subscription', 'paid', 'CRS/2627/' || lpad(seq::text, 6, '0'), 2026, seq, m.start,
    (m.start + interval '1 month' - interval '1 day')::date, m.start + 31, m.start + 46, 'INR',
    10000, 0, 10000, x.half, x.half, x.igst, 1800, 0, 11800, 11800, 0, 0, 1000, 9000,
    %(lines)s, t.state, CASE WHEN x.intra THEN 'SGST' ELSE '' END, '{}'::jsonb, '{}'::jsonb, '',
    m.start + 31, m.start + 31, m.start + 31, m.start + 31, m.start + 31, t.billing_email,
    m.start + 40, NULL, '', false, NULL, NULL, NULL, t.id, x.intra
FROM (
    SELECT t.*, k, row_number() OVER (ORDER BY k, t.id) AS seq FROM tenants_tenant t
    CROSS JOIN generate_series(1, %(months)s) AS k
) AS t
CROSS JOIN LATERAL (
    SELECT (DATE '2026-10-01' - make_interval(months => t.k))::date AS start
) AS m
CROSS JOIN LATERAL (
    SELECT t.state = '27' AS intra,
        CASE WHEN t.state = '27' THEN 900 ELSE 0 END AS half,
        CASE WHEN t.state = '27' THEN 0 ELSE 1800 END AS igst
) AS x
"""
HISTORY_LINES_SQL = """
INSERT INTO invoices_invoiceline (invoice_id, position, kind, description, resource_type,
    resource_name, sac_code, period_start, period_end, quantity, unit, unit_price, amount,
    discount, taxable_value, tax_rate, cgst, sgst, igst, pricing_detail)
SELECT i.id, p, CASE WHEN p = 0 THEN 'recurring' ELSE 'usage' END,
    CASE WHEN p = 0 THEN 'Plan fee' ELSE 'Usage line ' || p END, '', '', '998315',
    i.period_start, i.period_end, 1, 'unit', 500, 500, 0, 500, 18,
    CASE WHEN i.intra_state THEN 45 ELSE 0 END, CASE WHEN i.intra_state THEN 45 ELSE 0 END,
    CASE WHEN i.intra_state THEN 0 ELSE 90 END, ''
FROM invoices_invoice i CROSS JOIN generate_series(0, %(lines)s - 1) AS p
WHERE i.period_start < DATE '2026-10-01'
"""


def ensure_history(conn: psycopg.Connection) -> str:
    """The months of invoices before the benchmark's (built once, kept by every reset)."""
    row = conn.execute("SELECT value FROM bench_usage_marker WHERE key = 'history'").fetchone()
    if row is None:
        with conn.transaction():
            conn.execute(
                "DELETE FROM invoices_invoiceline WHERE invoice_id IN (SELECT id FROM"
                " invoices_invoice WHERE period_start < DATE '2026-10-01')"
            )
            conn.execute("DELETE FROM invoices_invoice WHERE period_start < DATE '2026-10-01'")
            params = {"months": HISTORY_MONTHS, "lines": HISTORY_LINES}
            conn.execute(HISTORY_INVOICES_SQL, params)
            conn.execute(HISTORY_LINES_SQL, params)
            conn.execute("INSERT INTO bench_usage_marker VALUES ('history', 'yes')")
        conn.execute("VACUUM (ANALYZE) invoices_invoice, invoices_invoiceline")
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM invoices_invoice WHERE period_start < DATE '2026-10-01'),"
        " (SELECT count(*) FROM invoices_invoiceline l JOIN invoices_invoice i"
        " ON i.id = l.invoice_id WHERE i.period_start < DATE '2026-10-01')"
    ).fetchone()
    assert counts is not None
    return f"{counts[0]:,} invoices with {counts[1]:,} lines"


# --- The records -------------------------------------------------------------------------------

METER_WEIGHTS = [
    ("vcpu_hours", 5),
    ("ram_gb_hours", 5),
    ("block_storage_gb_months", 2),
    ("object_storage_gb_months", 2),
    ("ingress_gb", 2),
    ("egress_gb", 2),
    ("gpu_hours", 2),
]
METER_SLOTS = [code for code, weight in METER_WEIGHTS for _ in range(weight)]
GPU_TYPES = ["A100", "H100", "L4", "T4"]
REGIONS = ["ap-south-1", "ap-south-2", "ap-southeast-1"]

# Record n of N, deterministic, in the order of n (generate_series through projections only).
# Half the records spread evenly over the tenants, half skewed towards the first ones (a few big
# tenants). 97 % fall in the billed month, 2 % in the month before (late usage, billed on a line
# naming its month), 1 % in the next (not billed).
GENERATOR = """
WITH g AS (
    SELECT n,
        hashint8extended(n, 1) & %(positive)s AS h1, hashint8extended(n, 2) & %(positive)s AS h2,
        hashint8extended(n, 3) & %(positive)s AS h3, hashint8extended(n, 4) & %(positive)s AS h4
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS n
), r AS (
    SELECT g.n,
        %(first_tenant)s + CASE WHEN g.h1 %% 2 = 0 THEN g.n %% %(tenants)s
            ELSE floor(%(tenants)s * power((g.h1 / 2 %% 1000000) / 1000000.0, 2))::bigint
        END AS tenant_id,
        (%(slots)s::text[])[1 + (g.h2 %% %(n_slots)s)] AS meter,
        (%(slot_ids)s::bigint[])[1 + (g.h2 %% %(n_slots)s)] AS meter_id,
        (%(gpus)s::text[])[1 + (g.h2 / 100 %% 4)] AS gpu,
        (%(regions)s::text[])[1 + (g.h3 %% 3)] AS region,
        g.h3 / 10 %% 40 AS resource,
        ((g.h4 %% 50000000) / 1000000.0)::numeric(20, 6) AS quantity,
        CASE WHEN g.h3 / 1000 %% 100 < 2 THEN TIMESTAMPTZ '2026-09-01 00:00+05:30'
                + make_interval(hours => (g.h4 / 100000000 %% 720)::int)
             WHEN g.h3 / 1000 %% 100 < 3 THEN TIMESTAMPTZ '2026-11-01 00:00+05:30'
                + make_interval(hours => (g.h4 / 100000000 %% 240)::int)
             ELSE TIMESTAMPTZ '2026-10-01 00:00+05:30'
                + make_interval(hours => (g.h4 / 100000000 %% 744)::int)
        END AS window_start
    FROM g
)
SELECT r.n, r.tenant_id, r.meter_id, r.meter,
    CASE WHEN r.meter = 'gpu_hours' THEN r.gpu ELSE '' END AS dimension_value,
    'vm-' || r.tenant_id || '-' || r.resource AS resource_id,
    'web-' || r.resource AS resource_name, r.region, r.quantity, r.window_start,
    r.window_start + interval '1 hour' AS window_end, 'rec-' || r.n AS idempotency_key
FROM r
"""

CSV_HEADER = (
    "tenant_id",
    "meter",
    "resource_id",
    "resource_name",
    "region",
    "quantity",
    "window_start",
    "window_end",
    "idempotency_key",
    "gpu_type",
)
ISO = """to_char({col} AT TIME ZONE 'Asia/Kolkata', 'YYYY-MM-DD"T"HH24:MI:SS"+05:30"')"""

CSV_SQL = f"""
COPY (
    SELECT tenant_id, meter, resource_id, resource_name, region, quantity,
        {ISO.format(col="window_start")}, {ISO.format(col="window_end")}, idempotency_key,
        dimension_value
    FROM ({GENERATOR}) AS x
) TO STDOUT WITH (FORMAT csv)
"""  # noqa: S608 - our own fragments

# The table's columns as the importer writes them (usage.ingest.COLUMNS), in the same order.
TABLE_COLUMNS = (
    "tenant_id",
    "meter_id",
    "resource_id",
    "resource_name",
    "region",
    "dimension_value",
    "dimensions",
    "quantity",
    "window_start",
    "window_end",
    "idempotency_key",
    "source",
    "received_at",
)
COPY_SQL = f"""
COPY (
    SELECT tenant_id, meter_id, resource_id, resource_name, region, dimension_value,
        CASE WHEN dimension_value = '' THEN '{{}}'::jsonb
             ELSE jsonb_build_object('gpu_type', dimension_value) END,
        quantity, window_start, window_end, idempotency_key, 'import',
        TIMESTAMPTZ '2026-11-01 01:00+05:30'
    FROM ({GENERATOR}) AS x
) TO STDOUT
"""  # noqa: S608 - our own fragments

JSON_SQL = f"""
COPY (
    SELECT json_build_object(
        'tenant_id', tenant_id, 'meter', meter, 'resource_id', resource_id,
        'resource_name', resource_name, 'region', region, 'quantity', quantity::text,
        'window_start', {ISO.format(col="window_start")},
        'window_end', {ISO.format(col="window_end")}, 'idempotency_key', idempotency_key,
        'dimensions', CASE WHEN dimension_value = '' THEN '{{}}'::json
                           ELSE json_build_object('gpu_type', dimension_value) END)
    FROM ({GENERATOR}) AS x
) TO STDOUT
"""  # noqa: S608 - our own fragments

# A checksum of the stored records: every column but id, source, received_at and the invoice
# line, summed over the rows (order-independent).
CHECKSUM_SQL = """
SELECT count(*), coalesce(sum(quantity), 0), coalesce(sum(hashtextextended(concat_ws('|',
    tenant_id, meter_id, resource_id, resource_name, region, dimension_value, dimensions::text,
    quantity::text, extract(epoch FROM window_start), extract(epoch FROM window_end),
    idempotency_key), 0)), 0)
FROM usage_usagerecord
"""


def _params(s: Scale, count: int) -> dict[str, object]:
    with psycopg.connect(dsn(s)) as conn:
        row = conn.execute("SELECT min(id) FROM tenants_tenant").fetchone()
        meters = dict(conn.execute("SELECT code, id FROM usage_meter").fetchall())
    assert row is not None
    assert row[0] is not None, "build the catalogue first"
    return {
        "positive": 2**63 - 1,
        "slot_ids": [meters[code] for code in METER_SLOTS],
        "first": 0,
        "last": count - 1,
        "first_tenant": row[0],
        "tenants": s.tenants,
        "slots": METER_SLOTS,
        "n_slots": len(METER_SLOTS),
        "gpus": GPU_TYPES,
        "regions": REGIONS,
    }


def _file(s: Scale, count: int, kind: str) -> Path:
    return FILES / f"{DATA_VERSION}-{s.tenants}t-{count}.{kind}"


def _write(s: Scale, count: int, kind: str, sql: str, header: str = "") -> Path:
    """The generator's first ``count`` records in a file (written once, then reused)."""
    path = _file(s, count, kind)
    if path.exists():
        return path
    FILES.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC)
    part = path.with_suffix(path.suffix + ".part")
    with psycopg.connect(dsn(s)) as conn, part.open("wb") as out:
        if header:
            out.write(header.encode())
        with conn.cursor() as cursor, cursor.copy(sql, _params(s, count)) as copy:
            for block in copy:
                out.write(block)
    part.rename(path)
    seconds = (datetime.datetime.now(datetime.UTC) - started).total_seconds()
    _log(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:,.0f} MB) in {seconds:.0f} s")
    return path


def csv_file(s: Scale, count: int) -> Path:
    return _write(s, count, "csv", CSV_SQL, ",".join(CSV_HEADER) + "\n")


def copy_file(s: Scale, count: int) -> Path:
    return _write(s, count, "copy", COPY_SQL)


def json_file(s: Scale, count: int) -> Path:
    """One JSON record a line (the HTTP bench groups them into batches)."""
    return _write(s, count, "jsonl", JSON_SQL)


# --- Loading and checking ----------------------------------------------------------------------

COPY_BLOCK = 1 << 20


def truncate(conn: psycopg.Connection) -> None:
    """Empty the records table (nothing refers to it); the data-set marker goes with it."""
    conn.execute("UPDATE usage_onetimecharge SET invoice_line_id = NULL")
    conn.execute("DELETE FROM bench_usage_marker WHERE key = 'records'")
    conn.execute("TRUNCATE usage_usagerecord")
    conn.execute("CHECKPOINT")  # each load starts without the last one's dirty pages to write


def raw_copy(conn: psycopg.Connection, path: Path) -> float:
    """The baseline: the file's rows COPY'd straight into the records table; seconds taken."""
    started = datetime.datetime.now(datetime.UTC)
    columns = ", ".join(TABLE_COLUMNS)
    with (
        conn.transaction(),
        conn.cursor() as cursor,
        cursor.copy(f"COPY usage_usagerecord ({columns}) FROM STDIN") as copy,
        path.open("rb") as source,
    ):
        while block := source.read(COPY_BLOCK):
            copy.write(block)
    return (datetime.datetime.now(datetime.UTC) - started).total_seconds()


def checksum(conn: psycopg.Connection) -> tuple[int, str, str]:
    """(records, sum of quantities, sum of the rows' hashes)."""
    row = conn.execute(CHECKSUM_SQL).fetchone()
    assert row is not None
    return int(row[0]), str(row[1]), str(row[2])


def mark_records(conn: psycopg.Connection, count: int, sums: tuple[int, str, str]) -> None:
    """The records table holds exactly the generator's first ``count`` records."""
    conn.execute(
        "INSERT INTO bench_usage_marker VALUES ('records', %s)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [f"{DATA_VERSION}:{count}:{sums}"],
    )


def records_marked(conn: psycopg.Connection, count: int) -> bool:
    """The records table holds the generator's first ``count`` records (marked, and counted)."""
    row = conn.execute("SELECT value FROM bench_usage_marker WHERE key = 'records'").fetchone()
    if not row or not row[0].startswith(f"{DATA_VERSION}:{count}:"):
        return False
    counted = conn.execute("SELECT count(*) FROM usage_usagerecord").fetchone()
    return counted is not None and counted[0] == count
