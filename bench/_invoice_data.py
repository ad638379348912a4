"""The invoice-list benchmark's data set: built once in its own PostgreSQL database, then reused.

1,000,000 invoices over 5,000 tenants, one of which has 200,000 of them, with their lines, all
bulk-loaded by ``INSERT ... SELECT generate_series`` so a build takes a few minutes. Everything the
list page reads is consistent with what the services would have written: numbers gapless per
financial year, drafts without number or issue date, GST per line rounded to the paisa and the
total to the rupee, denormalised totals equal to the sums of the lines, balances that follow the
status.

Only the database named ``DB_NAME`` is ever dropped or created.
"""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass
from typing import Any

import psycopg

DB_NAME = "billing_bench"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DSN = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"

# Bump whenever the generated data changes shape: a cached database with another version is rebuilt.
DATA_VERSION = "invoice-list-v1"
MAX_AGE_DAYS = 7  # date presets (last quarter, overdue) drift as the data ages: rebuild weekly

TENANTS = 5_000
INVOICES = 1_000_000
BIG_TENANT_INVOICES = 200_000
MONTHS = 36  # history: one subscription invoice per tenant and month, issue dates over 3 years
DAYS = 1_095

# 40 x 25 x 5 = 5,000 distinct display names, no digits in them.
FIRST_WORDS = [
    "Saffron",
    "Indigo",
    "Banyan",
    "Lotus",
    "Monsoon",
    "Peacock",
    "Himalaya",
    "Ganges",
    "Deccan",
    "Konkan",
    "Malabar",
    "Coromandel",
    "Sahyadri",
    "Nilgiri",
    "Vindhya",
    "Aravalli",
    "Kaveri",
    "Narmada",
    "Godavari",
    "Krishna",
    "Tapti",
    "Chambal",
    "Thar",
    "Sundarban",
    "Kaziranga",
    "Bodhi",
    "Chandra",
    "Surya",
    "Akash",
    "Prithvi",
    "Vayu",
    "Agni",
    "Jaladhi",
    "Tara",
    "Neel",
    "Hira",
    "Moti",
    "Kesari",
    "Tulsi",
    "Amrit",
]
SECOND_WORDS = [
    "Cloud",
    "Data",
    "Retail",
    "Health",
    "Fintech",
    "Logistics",
    "Media",
    "Analytics",
    "Foods",
    "Motors",
    "Pharma",
    "Textiles",
    "Energy",
    "Infra",
    "Learning",
    "Travel",
    "Gaming",
    "Agritech",
    "Realty",
    "Insurance",
    "Payments",
    "Robotics",
    "Telecom",
    "Security",
    "Commerce",
]
SUFFIXES = ["Labs", "Systems", "Technologies", "Networks", "Solutions"]
assert len(FIRST_WORDS) * len(SECOND_WORDS) * len(SUFFIXES) == TENANTS

# (state code, city, PIN code); one tenant in five is in Maharashtra, the supplier's state, so
# those invoices carry CGST + SGST and the rest IGST.
PLACES = [
    ("27", "Mumbai", "400051"),
    ("29", "Bengaluru", "560001"),
    ("07", "New Delhi", "110001"),
    ("33", "Chennai", "600002"),
    ("36", "Hyderabad", "500081"),
    ("27", "Pune", "411006"),
    ("24", "Ahmedabad", "380009"),
    ("19", "Kolkata", "700001"),
    ("06", "Gurugram", "122002"),
    ("09", "Noida", "201301"),
    ("32", "Kochi", "682011"),
    ("08", "Jaipur", "302001"),
    ("04", "Chandigarh", "160017"),
    ("30", "Panaji", "403001"),
    ("21", "Bhubaneswar", "751001"),
    ("23", "Indore", "452001"),
    ("03", "Ludhiana", "141001"),
    ("37", "Visakhapatnam", "530003"),
    ("34", "Puducherry", "605001"),
    ("27", "Nagpur", "440001"),
]

PLANS = [("Starter", "2999"), ("Growth", "9999"), ("Business", "24999"), ("Scale", "74999")]
REGIONS = ["Mumbai", "Hyderabad", "Delhi NCR", "Chennai"]
# One-time products: (description, unit price). Search scenarios look for "firewall".
PRODUCTS = [
    ("Managed firewall appliance (1 year)", "85000"),
    ("Hardware: 1U compute server", "245000"),
    ("Dedicated GPU node setup", "125000"),
    ("Data migration service", "60000"),
    ("Professional services: architecture review", "45000"),
    ("SSL certificate (1 year, wildcard)", "18000"),
    ("Cross-connect setup (10 Gbps)", "30000"),
    ("Backup appliance: on-premise", "95000"),
]
VOID_REASONS = ["Raised against the wrong customer", "Duplicate of another invoice", "Wrong plan"]

# The search terms the scenarios use, chosen from the generated vocabulary.
CUSTOMER_TERM = "Kaziranga"  # first word of 125 tenants; not the big tenant
LINE_TERM = "firewall"  # one one-time product in eight


@dataclass(frozen=True)
class DataSet:
    built_at: str
    build_seconds: float
    today: datetime.date
    tenants: int
    invoices: int
    lines: int
    big_tenant_id: int
    big_tenant_name: str
    big_tenant_invoices: int
    status_counts: dict[str, int]
    kind_counts: dict[str, int]
    table_sizes: dict[str, str]
    reused: bool


def _log(message: str) -> None:
    print(f"   {message}", flush=True)


# --- Before Django: is the cached database usable? -----------------------------------------


def cached_marker(today: datetime.date) -> dict[str, str] | None:
    """The marker of a usable cached database, or None (absent, other version, stale, damaged)."""
    try:
        conn = psycopg.connect(BENCH_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError:
        return None
    with conn:
        try:
            rows = conn.execute("SELECT key, value FROM bench_marker").fetchall()
        except psycopg.errors.UndefinedTable:
            return None
        marker = dict(rows)
        if marker.get("version") != DATA_VERSION or marker.get("complete") != "yes":
            return None
        built_on = datetime.date.fromisoformat(marker.get("today", "1970-01-01"))
        if not 0 <= (today - built_on).days <= MAX_AGE_DAYS:
            return None
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM tenants_tenant),"
            " (SELECT count(*) FROM invoices_invoice),"
            " (SELECT count(*) FROM invoices_invoice WHERE tenant_id = %s)",
            (int(marker["big_tenant_id"]),),
        ).fetchone()
    if counts != (TENANTS, INVOICES, BIG_TENANT_INVOICES):
        return None
    return marker


def recreate_database() -> None:
    """Drop and create DB_NAME (and nothing else)."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


# --- With Django set up: load ----------------------------------------------------------------


TENANTS_SQL = """
INSERT INTO tenants_tenant (
    address_line1, address_line2, city, state, pin_code, display_name, legal_name, gstin,
    billing_email, finance_email, phone, currency, payment_terms_days, status, status_changed_at,
    status_reason, created_at, updated_at)
SELECT
    'Unit ' || (1 + n %% 400) || ', ' || (ARRAY['MG Road', 'Link Road', 'Ring Road',
        'Station Road', 'Tech Park Avenue'])[1 + n %% 5],
    CASE WHEN n %% 3 = 0 THEN 'Floor ' || (1 + n %% 12) ELSE '' END,
    (%(cities)s::text[])[1 + n %% %(n_places)s],
    (%(states)s::text[])[1 + n %% %(n_places)s],
    (%(pins)s::text[])[1 + n %% %(n_places)s],
    name,
    name || CASE WHEN n %% 7 = 0 THEN ' LLP' ELSE ' Private Limited' END,
    '',
    'billing@' || slug || '.example',
    CASE WHEN n %% 2 = 0 THEN 'finance@' || slug || '.example' ELSE '' END,
    '+91 22 4' || lpad(n::text, 7, '0'),
    'INR',
    CASE WHEN n %% 4 = 0 THEN 30 ELSE 15 END,
    CASE WHEN n %% 250 = 249 THEN 'suspended' ELSE 'active' END,
    CASE WHEN n %% 250 = 249 THEN now() - interval '20 days' END,
    CASE WHEN n %% 250 = 249 THEN 'Past the grace period' ELSE '' END,
    now() - make_interval(days => 1100 + n %% 400),
    now()
FROM generate_series(0, %(last)s) AS n
CROSS JOIN LATERAL (
    SELECT (%(first)s::text[])[1 + n %% 40] || ' ' || (%(second)s::text[])[1 + (n / 40) %% 25]
        || ' ' || (%(suffix)s::text[])[1 + n / 1000] AS name
) AS named
CROSS JOIN LATERAL (SELECT lower(replace(name, ' ', '-')) AS slug) AS slugged
ORDER BY n
"""

# One row per invoice with everything decided: tenant, dates, status, up to three line slots.
STAGE_SQL = """
CREATE UNLOGGED TABLE bench_stage AS
WITH base AS (
    SELECT g,
        CASE WHEN g <= %(big_n)s THEN %(big_id)s
             ELSE %(small_first)s + (g - %(big_n)s - 1) %% %(n_small)s END AS tenant_id,
        CASE WHEN g <= %(big_n)s THEN g ELSE (g - %(big_n)s - 1) / %(n_small)s + 1 END AS k,
        random() AS r1, random() AS r2, random() AS r3, random() AS r4,
        random() AS r5, random() AS r6, random() AS r7, random() AS r8
    FROM generate_series(1, %(total)s) AS g
), dated AS (
    SELECT b.*, t.state, t.payment_terms_days AS terms, t.billing_email,
        b.k <= %(months)s AS sub,
        CASE WHEN b.k <= %(months)s THEN
            (date_trunc('month', %(today)s::date) - make_interval(months => b.k::int))::date
        END AS p_start,
        CASE WHEN b.k <= %(months)s THEN least(%(today)s::date,
            (date_trunc('month', %(today)s::date)
                - make_interval(months => b.k::int - 1))::date + (b.r1 * 3)::int)
        ELSE %(today)s::date - (b.r1 * %(days)s)::int END AS d
    FROM base b JOIN tenants_tenant t ON t.id = b.tenant_id
), statused AS (
    SELECT x.*,
        CASE
            WHEN (x.sub AND x.k = 1 AND x.r2 < 0.06)
                OR (NOT x.sub AND x.d > %(today)s::date - 10 AND x.r2 < 0.3) THEN 'draft'
            WHEN x.r3 < 0.02 THEN 'voided'
            WHEN x.r3 < 0.035 AND %(today)s::date - x.d > 20 THEN 'refunded'
            WHEN x.d + x.terms >= %(today)s::date THEN
                CASE WHEN x.r4 < 0.15 THEN 'pending' WHEN x.r4 < 0.75 THEN 'sent'
                     WHEN x.r4 < 0.85 THEN 'partially_paid' ELSE 'paid' END
            WHEN x.r4 < CASE WHEN %(today)s::date - x.d < 60 THEN 0.5
                             WHEN %(today)s::date - x.d < 180 THEN 0.15 ELSE 0.05 END THEN
                CASE WHEN x.r3 < 0.75 THEN 'overdue' ELSE 'partially_paid' END
            ELSE 'paid'
        END AS status,
        (%(plan_names)s::text[])[1 + x.tenant_id %% %(n_plans)s] AS plan_name,
        (%(plan_fees)s::numeric[])[1 + x.tenant_id %% %(n_plans)s] AS plan_fee,
        (%(regions)s::text[])[1 + x.tenant_id %% %(n_regions)s] AS region,
        1 + floor(x.r6 * %(n_products)s)::int AS product
    FROM dated x
), slotted AS (
    SELECT s.*,
        -- slot 1: the plan fee, or the product
        CASE WHEN s.sub THEN 'recurring' ELSE 'one_time' END AS k1,
        CASE WHEN s.sub THEN 'Plan fee: ' || s.plan_name || ' (' || to_char(s.p_start, 'Mon YYYY')
             || ')' ELSE (%(product_names)s::text[])[s.product] END AS d1,
        CASE WHEN s.sub THEN 1::numeric ELSE (1 + floor(s.r7 * 4))::numeric END AS q1,
        CASE WHEN s.sub THEN s.plan_fee
             ELSE (%(product_prices)s::numeric[])[s.product] END AS p1,
        CASE WHEN s.sub THEN 'month' ELSE 'unit' END AS u1,
        CASE WHEN s.sub THEN 'plan' ELSE '' END AS t1,
        -- slot 2: compute usage, or installation (three one-time invoices in ten)
        CASE WHEN s.sub THEN 'usage' WHEN s.r5 < 0.3 THEN 'one_time' END AS k2,
        CASE WHEN s.sub THEN 'Compute: vCPU-hours (' || s.region || ')'
             WHEN s.r5 < 0.3 THEN 'Installation and configuration' END AS d2,
        CASE WHEN s.sub THEN (100 + floor(s.r6 * 20000))::numeric
             WHEN s.r5 < 0.3 THEN 1::numeric END AS q2,
        CASE WHEN s.sub THEN 2.75 WHEN s.r5 < 0.3 THEN 15000::numeric END AS p2,
        CASE WHEN s.sub THEN 'vCPU-hour' ELSE 'unit' END AS u2,
        CASE WHEN s.sub THEN 'compute' ELSE '' END AS t2,
        -- slot 3: object storage on half the subscription invoices
        CASE WHEN s.sub AND s.r7 < 0.5 THEN 'usage' END AS k3,
        CASE WHEN s.sub AND s.r7 < 0.5
             THEN 'Object storage: GB-months (' || s.region || ')' END AS d3,
        CASE WHEN s.sub AND s.r7 < 0.5 THEN (50 + floor(s.r8 * 20000))::numeric END AS q3,
        CASE WHEN s.sub AND s.r7 < 0.5 THEN 1.80 END AS p3,
        'GB-month' AS u3,
        'storage' AS t3,
        s.state = %(supplier_state)s AS intra
    FROM statused s
), priced AS (
    SELECT s.*,
        round(s.q1 * s.p1, 2) AS a1,
        coalesce(round(s.q2 * s.p2, 2), 0) AS a2,
        coalesce(round(s.q3 * s.p3, 2), 0) AS a3
    FROM slotted s
), taxed AS (
    SELECT p.*,
        CASE WHEN p.intra THEN round(p.a1 * 0.09, 2) + round(p.a2 * 0.09, 2)
            + round(p.a3 * 0.09, 2) ELSE 0 END AS cgst,
        CASE WHEN p.intra THEN 0 ELSE round(p.a1 * 0.18, 2) + round(p.a2 * 0.18, 2)
            + round(p.a3 * 0.18, 2) END AS igst,
        CASE WHEN extract(month FROM p.d) >= 4 THEN extract(year FROM p.d)::int
             ELSE extract(year FROM p.d)::int - 1 END AS fy
    FROM priced p
), totalled AS (
    SELECT t.*,
        t.a1 + t.a2 + t.a3 AS subtotal,
        round(t.a1 + t.a2 + t.a3 + 2 * t.cgst + t.igst, 0) AS total
    FROM taxed t
)
SELECT x.*,
    row_number() OVER (ORDER BY x.status = 'draft', x.d, x.g) AS inv_id,
    row_number() OVER (PARTITION BY x.status = 'draft', x.fy ORDER BY x.d, x.g) AS seq
FROM totalled x
"""

INVOICES_SQL = """
INSERT INTO invoices_invoice (
    id, tenant_id, kind, status, number, financial_year, sequence, period_start, period_end,
    issue_date, due_date, currency, subtotal, discount, taxable_value, cgst, sgst, igst,
    tax_total, round_off, total, amount_paid, amount_refunded, balance_due, regular_charges,
    additional_charges, line_count, place_of_supply, state_tax_name, supplier, customer, notes,
    created_at, updated_at, finalized_at, approved_at, sent_at, sent_to, paid_at, voided_at,
    void_reason, disputed, approved_by_id, created_by_id, regenerated_from_id
    /*extra_columns*/)
SELECT
    s.inv_id, s.tenant_id, CASE WHEN s.sub THEN 'subscription' ELSE 'one_time' END, s.status,
    CASE WHEN NOT draft THEN %(prefix)s || '/' || lpad((s.fy %% 100)::text, 2, '0')
        || lpad(((s.fy + 1) %% 100)::text, 2, '0') || '/'
        || CASE WHEN s.seq < 100000 THEN lpad(s.seq::text, 5, '0') ELSE s.seq::text END END,
    CASE WHEN NOT draft THEN s.fy END,
    CASE WHEN NOT draft THEN s.seq END,
    s.p_start,
    CASE WHEN s.sub THEN (s.p_start + interval '1 month' - interval '1 day')::date END,
    CASE WHEN NOT draft THEN s.d END,
    CASE WHEN NOT draft THEN s.d + s.terms END,
    'INR', s.subtotal, 0, s.subtotal, s.cgst, s.cgst, s.igst,
    2 * s.cgst + s.igst,
    s.total - (s.subtotal + 2 * s.cgst + s.igst),
    s.total,
    paid.amount_paid,
    CASE WHEN s.status = 'refunded' THEN
        CASE WHEN s.r8 < 0.5 THEN s.total ELSE round(s.total * (0.2 + 0.6 * s.r8)::numeric, 2) END
        ELSE 0 END,
    CASE WHEN s.status IN ('draft', 'pending', 'sent', 'overdue', 'partially_paid')
        THEN s.total - paid.amount_paid ELSE 0 END,
    CASE WHEN s.sub THEN s.a1 ELSE 0 END,
    s.subtotal - CASE WHEN s.sub THEN s.a1 ELSE 0 END,
    1 + (s.k2 IS NOT NULL)::int + (s.k3 IS NOT NULL)::int,
    s.state,
    CASE WHEN s.state = ANY(%(utgst)s::text[]) THEN 'UTGST' ELSE 'SGST' END,
    CASE WHEN draft THEN '{}'::jsonb ELSE %(supplier)s::jsonb END,
    CASE WHEN draft THEN '{}'::jsonb ELSE jsonb_build_object(
        'display_name', t.display_name, 'legal_name', t.legal_name, 'gstin', t.gstin,
        'address_lines', jsonb_build_array(t.address_line1, t.city || ' ' || t.pin_code),
        'state', t.state, 'state_name', %(state_names)s::jsonb ->> t.state,
        'billing_email', t.billing_email, 'finance_email', t.finance_email) END,
    '',
    (s.d + time '09:00') AT TIME ZONE 'Asia/Kolkata',
    (s.d + time '09:00') AT TIME ZONE 'Asia/Kolkata' + interval '1 day',
    CASE WHEN NOT draft THEN (s.d + time '10:00') AT TIME ZONE 'Asia/Kolkata' END,
    CASE WHEN sent THEN (s.d + time '11:00') AT TIME ZONE 'Asia/Kolkata' END,
    CASE WHEN sent THEN (s.d + time '11:05') AT TIME ZONE 'Asia/Kolkata' END,
    CASE WHEN sent THEN s.billing_email ELSE '' END,
    CASE WHEN s.status IN ('paid', 'refunded') THEN
        (s.d + (s.r5 * s.terms)::int + time '15:00') AT TIME ZONE 'Asia/Kolkata' END,
    CASE WHEN s.status = 'voided' THEN
        (s.d + time '16:00') AT TIME ZONE 'Asia/Kolkata' + interval '2 days' END,
    CASE WHEN s.status = 'voided' THEN (%(void_reasons)s::text[])[1 + (s.r4 * 3)::int %% 3]
        ELSE '' END,
    false, NULL, NULL, NULL
    /*extra_values*/
FROM bench_stage s
JOIN tenants_tenant t ON t.id = s.tenant_id
CROSS JOIN LATERAL (SELECT s.status = 'draft' AS draft,
    s.status NOT IN ('draft', 'pending') AND NOT (s.status = 'voided' AND s.r4 < 0.5) AS sent)
    AS flags
CROSS JOIN LATERAL (SELECT CASE
    WHEN s.status IN ('paid', 'refunded') THEN s.total
    WHEN s.status = 'partially_paid' THEN round(s.total * (0.1 + 0.8 * s.r4)::numeric, 2)
    ELSE 0 END AS amount_paid) AS paid
ORDER BY s.inv_id
"""

LINES_SQL = """
INSERT INTO invoices_invoiceline (
    invoice_id, position, kind, description, resource_type, resource_name, sac_code,
    period_start, period_end, quantity, unit, unit_price, amount, discount, taxable_value,
    tax_rate, cgst, sgst, igst)
SELECT s.inv_id, l.position, l.kind, l.description, l.rtype,
    CASE WHEN l.rtype = '' THEN '' ELSE s.region || '-' || l.rtype || '-' || s.tenant_id END,
    '998315', s.p_start,
    CASE WHEN s.sub THEN (s.p_start + interval '1 month' - interval '1 day')::date END,
    l.quantity, l.unit, l.unit_price, l.amount, 0, l.amount, 18.00,
    CASE WHEN s.intra THEN round(l.amount * 0.09, 2) ELSE 0 END,
    CASE WHEN s.intra THEN round(l.amount * 0.09, 2) ELSE 0 END,
    CASE WHEN s.intra THEN 0 ELSE round(l.amount * 0.18, 2) END
FROM bench_stage s
CROSS JOIN LATERAL (VALUES
    (0, s.k1, s.d1, s.t1, s.q1, s.u1, s.p1, s.a1),
    (1, s.k2, s.d2, s.t2, s.q2, s.u2, s.p2, s.a2),
    (2, s.k3, s.d3, s.t3, s.q3, s.u3, s.p3, s.a3)
) AS l(position, kind, description, rtype, quantity, unit, unit_price, amount)
WHERE l.kind IS NOT NULL
ORDER BY s.inv_id, l.position
"""


# Columns added to the models after the loader was written, computed where it knows how.
OPTIONAL_INVOICE_COLUMNS = {"intra_state": "s.intra"}


def _insert_columns(sql: str) -> set[str]:
    listed = sql.split("(", 1)[1].split(")", 1)[0].replace("/*extra_columns*/", "")
    return {c.strip() for c in listed.split(",") if c.strip()}


def _default_the_rest(cursor: Any, model: Any, written: set[str]) -> list[str]:
    """Give every NOT NULL column the loader does not write (a field added since) its model
    default as a temporary column default; return the statements that drop them again."""
    from django.db import connection
    from django.db.models.fields import NOT_PROVIDED

    table = model._meta.db_table
    undo = []
    for field in model._meta.concrete_fields:
        if field.column in written or field.null or field.primary_key:
            continue
        if field.db_default is not NOT_PROVIDED:
            continue
        default = field.get_default()  # "" for a text field without an explicit default
        if default is None:
            raise RuntimeError(
                f"bench/_invoice_data.py does not fill {table}.{field.column}, which has no "
                "default: teach the loader what to put there."
            )
        value = field.get_db_prep_save(default, connection)
        cursor.execute(
            f'ALTER TABLE "{table}" ALTER COLUMN "{field.column}" SET DEFAULT %s', [value]
        )
        undo.append(f'ALTER TABLE "{table}" ALTER COLUMN "{field.column}" DROP DEFAULT')
    return undo


def _secondary_indexes(cursor: Any, tables: tuple[str, ...]) -> list[tuple[str, str, str, str]]:
    """(table, index, how to drop it, how to create it) for every index but primary keys."""
    cursor.execute(
        """
        SELECT c.relname, ic.relname, con.conname, pg_get_indexdef(i.indexrelid),
               pg_get_constraintdef(con.oid)
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_class ic ON ic.oid = i.indexrelid
        LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
            AND con.contype IN ('u', 'x')
        WHERE c.relname = ANY(%s) AND NOT i.indisprimary
        ORDER BY c.relname, ic.relname
        """,
        [list(tables)],
    )
    found = []
    for table, index, constraint, index_def, constraint_def in cursor.fetchall():
        if constraint:
            drop = f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}"'
            create = f'ALTER TABLE "{table}" ADD CONSTRAINT "{constraint}" {constraint_def}'
        else:
            drop = f'DROP INDEX "{index}"'
            create = index_def
        found.append((table, index, drop, create))
    return found


def _index_signature(cursor: Any, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indrelid WHERE c.relname = ANY(%s) ORDER BY 1, 2",
        [list(tables)],
    )
    return cursor.fetchall()


def build(today: datetime.date) -> float:
    """Load the data set into the (freshly migrated, empty) database; return the seconds taken."""
    from django.db import connection, transaction

    from billing_portal.lib.gst import STATES
    from invoices.models import Invoice, InvoiceLine, InvoiceSequence
    from invoices.services import supplier_snapshot
    from tenants.models import ProviderProfile, Tenant

    started = time.perf_counter()
    provider = ProviderProfile.objects.create(
        pk=1,
        legal_name="Cirrus Cloud Services Private Limited",
        trade_name="Cirrus Cloud",
        gstin="27AAHCC4821K1ZJ",
        pan="AAHCC4821K",
        email="billing@cirrus.example",
        phone="+91 20 4000 1000",
        website="https://cirrus.example",
        address_line1="Panchshil Tech Park",
        address_line2="Yerawada",
        city="Pune",
        state="27",
        pin_code="411006",
        bank_account_name="Cirrus Cloud Services Private Limited",
        bank_name="HDFC Bank",
        bank_account_number="50200012345678",
        bank_ifsc="HDFC0000123",
        bank_branch="Kalyani Nagar, Pune",
        invoice_number_prefix="CRS",
    )
    tables = ("invoices_invoice", "invoices_invoiceline")
    invoice_fields = {f.column for f in Invoice._meta.concrete_fields}
    extra = {c: e for c, e in OPTIONAL_INVOICE_COLUMNS.items() if c in invoice_fields}
    invoices_sql = INVOICES_SQL.replace(
        "/*extra_columns*/", "".join(f", {c}" for c in extra)
    ).replace("/*extra_values*/", "".join(f", {e}" for e in extra.values()))
    with transaction.atomic(), connection.cursor() as cursor:
        # SET LOCAL: the pooled connection goes back to the pool as it came.
        cursor.execute("SET LOCAL work_mem = '512MB'")
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        cursor.execute("SET LOCAL synchronous_commit = off")
        # The rows are consistent by construction: skip the per-row foreign-key triggers.
        cursor.execute("SET LOCAL session_replication_role = replica")
        undo = [
            *_default_the_rest(cursor, Tenant, _insert_columns(TENANTS_SQL)),
            *_default_the_rest(cursor, Invoice, _insert_columns(invoices_sql)),
            *_default_the_rest(cursor, InvoiceLine, _insert_columns(LINES_SQL)),
        ]

        step = time.perf_counter()
        cursor.execute(
            TENANTS_SQL,
            {
                "cities": [p[1] for p in PLACES],
                "states": [p[0] for p in PLACES],
                "pins": [p[2] for p in PLACES],
                "n_places": len(PLACES),
                "first": FIRST_WORDS,
                "second": SECOND_WORDS,
                "suffix": SUFFIXES,
                "last": TENANTS - 1,
            },
        )
        cursor.execute("SELECT min(id), max(id), count(*) FROM tenants_tenant")
        first_id, last_id, count = cursor.fetchone()
        assert count == TENANTS
        assert last_id - first_id + 1 == TENANTS
        _log(f"tenants: {count:,} in {time.perf_counter() - step:.1f} s")

        step = time.perf_counter()
        cursor.execute(
            STAGE_SQL,
            {
                "big_n": BIG_TENANT_INVOICES,
                "big_id": first_id,
                "small_first": first_id + 1,
                "n_small": TENANTS - 1,
                "total": INVOICES,
                "months": MONTHS,
                "days": DAYS,
                "today": today,
                "plan_names": [p[0] for p in PLANS],
                "plan_fees": [p[1] for p in PLANS],
                "n_plans": len(PLANS),
                "regions": REGIONS,
                "n_regions": len(REGIONS),
                "n_products": len(PRODUCTS),
                "product_names": [p[0] for p in PRODUCTS],
                "product_prices": [p[1] for p in PRODUCTS],
                "supplier_state": provider.state,
            },
        )
        _log(f"staging: {INVOICES:,} invoices planned in {time.perf_counter() - step:.1f} s")

        step = time.perf_counter()
        indexes = _secondary_indexes(cursor, tables)
        before = _index_signature(cursor, tables)
        for _, _, drop, _ in indexes:
            cursor.execute(drop)
        cursor.execute(
            invoices_sql,
            {
                "prefix": provider.invoice_number_prefix,
                "utgst": [code for code, s in STATES.items() if s.utgst],
                "supplier": json.dumps(supplier_snapshot(provider)),
                "state_names": json.dumps({code: s.name for code, s in STATES.items()}),
                "void_reasons": VOID_REASONS,
            },
        )
        _log(f"invoices: {cursor.rowcount:,} in {time.perf_counter() - step:.1f} s")

        step = time.perf_counter()
        cursor.execute(LINES_SQL)
        _log(f"lines: {cursor.rowcount:,} in {time.perf_counter() - step:.1f} s")

        step = time.perf_counter()
        for _, _, _, create in indexes:
            cursor.execute(create)
        after = _index_signature(cursor, tables)
        assert after == before, "the secondary indexes were not restored exactly"
        _log(f"indexes: {len(indexes)} rebuilt in {time.perf_counter() - step:.1f} s")

        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('invoices_invoice', 'id'), max(id))"
            " FROM invoices_invoice"
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('invoices_invoiceline', 'id'), max(id))"
            " FROM invoices_invoiceline"
        )
        cursor.execute(
            "INSERT INTO invoices_invoicesequence (financial_year, last_number)"
            " SELECT financial_year, max(sequence) FROM invoices_invoice"
            " WHERE financial_year IS NOT NULL GROUP BY financial_year"
        )
        cursor.execute("DROP TABLE bench_stage")
        for statement in undo:
            cursor.execute(statement)
    assert InvoiceSequence.objects.exists()

    step = time.perf_counter()
    with connection.cursor() as cursor:
        # Hint bits and the visibility map set, statistics fresh: a table in its steady state.
        cursor.execute("VACUUM (ANALYZE) tenants_tenant, invoices_invoice, invoices_invoiceline")
    _log(f"vacuum analyze: {time.perf_counter() - step:.1f} s")
    return time.perf_counter() - started


def write_marker(today: datetime.date, build_seconds: float) -> None:
    from django.db import connection

    from tenants.models import Tenant

    big = Tenant.objects.order_by("id").first()
    assert big is not None
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_marker (key text PRIMARY KEY, value text NOT NULL)"
        )
        cursor.execute("DELETE FROM bench_marker")
        values = {
            "version": DATA_VERSION,
            "today": today.isoformat(),
            "built_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "build_seconds": f"{build_seconds:.1f}",
            "big_tenant_id": str(big.pk),
            "complete": "yes",
        }
        for key, value in values.items():
            cursor.execute("INSERT INTO bench_marker VALUES (%s, %s)", [key, value])


def describe(*, reused: bool) -> DataSet:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT key, value FROM bench_marker")
        marker = dict(cursor.fetchall())
        big_id = int(marker["big_tenant_id"])
        cursor.execute("SELECT display_name FROM tenants_tenant WHERE id = %s", [big_id])
        (big_name,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM invoices_invoice WHERE tenant_id = %s", [big_id])
        (big_count,) = cursor.fetchone()
        cursor.execute("SELECT status, count(*) FROM invoices_invoice GROUP BY 1 ORDER BY 2 DESC")
        statuses = dict(cursor.fetchall())
        cursor.execute("SELECT kind, count(*) FROM invoices_invoice GROUP BY 1 ORDER BY 2 DESC")
        kinds = dict(cursor.fetchall())
        cursor.execute(
            "SELECT (SELECT count(*) FROM tenants_tenant), (SELECT count(*) FROM invoices_invoice),"
            " (SELECT count(*) FROM invoices_invoiceline)"
        )
        tenants, invoices, lines = cursor.fetchone()
        sizes = {}
        for table in ("invoices_invoice", "invoices_invoiceline", "tenants_tenant"):
            cursor.execute(
                "SELECT pg_size_pretty(pg_table_size(%s::regclass)),"
                " pg_size_pretty(pg_indexes_size(%s::regclass))",
                [table, table],
            )
            heap, idx = cursor.fetchone()
            sizes[table] = f"{heap} (indexes {idx})"
    return DataSet(
        built_at=marker["built_at"],
        build_seconds=float(marker["build_seconds"]),
        today=datetime.date.fromisoformat(marker["today"]),
        tenants=tenants,
        invoices=invoices,
        lines=lines,
        big_tenant_id=big_id,
        big_tenant_name=big_name,
        big_tenant_invoices=big_count,
        status_counts=statuses,
        kind_counts=kinds,
        table_sizes=sizes,
        reused=reused,
    )
