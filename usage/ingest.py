"""Usage records in: validation, and an insert that stores each (tenant, key) once.

Both the HTTP API and the bulk import go through ``parse_record`` and ``insert_records``. The
insert is ``INSERT ... ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING``, so a
batch sent twice, or four producers sending overlapping batches at once, stores every record
exactly once, and the answer counts what was new and what was a duplicate exactly. On
PostgreSQL a plain COPY goes first, in a savepoint: it stores a batch whose keys are all new
(the usual case) for less, and a key stored already refuses it whole, leaving the insert above.
"""

import datetime
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from usage.models import Meter, UsageRecord

MAX_KEY_LENGTH = 200
MAX_QUANTITY = Decimal("99999999999999")  # NUMERIC(20,6)


class RecordError(ValueError):
    """Why one record was refused (answered to the producer with its index)."""


class Row(NamedTuple):
    """A validated record. A named tuple, not a dataclass: the import builds a million of them,
    and a frozen dataclass's ``__init__`` (and ``astuple``) cost more than the checks."""

    tenant_id: int
    meter_id: int
    resource_id: str
    resource_name: str
    region: str
    dimension_value: str
    dimensions: str  # JSON text
    quantity: Decimal
    window_start: datetime.datetime
    window_end: datetime.datetime
    idempotency_key: str

    def values(self) -> tuple[Any, ...]:
        """The row's values in the order of its fields, which is the order of ``ROW_COLUMNS``."""
        return tuple(self)


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [{"index": i, "reason": r} for i, r in self.rejected],
        }


class Catalogue:
    """The tenants and meters a batch may name, loaded once per batch or import.

    ``tenant_ids``: only these tenants need be known (those a batch names), not every tenant.
    """

    def __init__(self, tenant_ids: set[int] | None = None) -> None:
        from tenants.models import Tenant

        tenants = Tenant.objects.all()
        if tenant_ids is not None:
            tenants = tenants.filter(pk__in=tenant_ids)
        self.tenants = set(tenants.values_list("pk", flat=True))
        self.meters = {m.code: m for m in Meter.objects.filter(active=True)}


BIGINT_MAX = 2**63 - 1


def _named_tenants(records: list[object]) -> set[int]:
    """The tenant ids a batch names, read as parse_record reads them (others it refuses)."""
    ids = set()
    for raw in records:
        if isinstance(raw, Mapping):
            try:
                tenant_id = int(raw.get("tenant_id", raw.get("tenant")))
            except (TypeError, ValueError):
                continue
            if 0 < tenant_id <= BIGINT_MAX:
                ids.add(tenant_id)
    return ids


def _text(raw: Mapping[str, object], name: str, limit: int, *, required: bool = False) -> str:
    value = raw.get(name)
    if value is None or value == "":
        if required:
            raise RecordError(f"{name} is missing.")
        return ""
    if not isinstance(value, (str, int)):
        raise RecordError(f"{name} must be text.")
    text = str(value).strip()
    if len(text) > limit:
        raise RecordError(f"{name} is longer than {limit} characters.")
    return text


def _moment(raw: Mapping[str, object], name: str) -> datetime.datetime:
    value = raw.get(name)
    if not isinstance(value, str) or not value:
        raise RecordError(f"{name} is missing (an ISO 8601 date and time).")
    try:
        moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        raise RecordError(f"{name} {value!r} is not an ISO 8601 date and time.")
    if timezone.is_naive(moment):
        raise RecordError(f"{name} needs a time zone offset (e.g. +05:30 or Z).")
    return moment


def parse_record(raw: object, catalogue: Catalogue) -> Row:
    if not isinstance(raw, Mapping):
        raise RecordError("A record is a JSON object.")
    key = _text(raw, "idempotency_key", MAX_KEY_LENGTH, required=True)
    tenant = raw.get("tenant_id", raw.get("tenant"))
    try:
        tenant_id = int(tenant)
    except (TypeError, ValueError):
        raise RecordError("tenant_id is missing or not a number.") from None
    if tenant_id not in catalogue.tenants:
        raise RecordError(f"Unknown tenant {tenant_id}.")
    meter_code = _text(raw, "meter", 40, required=True)
    meter = catalogue.meters.get(meter_code)
    if meter is None:
        raise RecordError(f"Unknown meter {meter_code!r}.")
    quantity_raw = raw.get("quantity")
    if isinstance(quantity_raw, bool) or not isinstance(quantity_raw, (int, str, float)):
        raise RecordError("quantity is missing or not a number.")
    try:
        # A float from JSON goes through its text, never its binary value.
        quantity = Decimal(str(quantity_raw))
    except InvalidOperation:
        raise RecordError(f"quantity {quantity_raw!r} is not a number.") from None
    if not quantity.is_finite():
        raise RecordError("quantity must be a finite number.")
    if quantity < 0:
        raise RecordError("quantity cannot be negative.")
    exponent = quantity.as_tuple().exponent
    if quantity > MAX_QUANTITY or (isinstance(exponent, int) and exponent < -6):
        raise RecordError("quantity has more than 14 digits or 6 decimal places.")
    start = _moment(raw, "window_start")
    end = _moment(raw, "window_end")
    if end < start:
        raise RecordError("window_end is before window_start.")
    dimensions = raw.get("dimensions") or {}
    if not isinstance(dimensions, Mapping):
        raise RecordError("dimensions must be an object.")
    dimension_value = ""
    if meter.dimension:
        dimension_value = str(dimensions.get(meter.dimension, "")).strip()[:60]
        if not dimension_value:
            raise RecordError(f"The {meter.code} meter needs dimensions.{meter.dimension}.")
    return Row(
        tenant_id=tenant_id,
        meter_id=meter.pk,
        resource_id=_text(raw, "resource_id", 120, required=True),
        resource_name=_text(raw, "resource_name", 200),
        region=_text(raw, "region", 40),
        dimension_value=dimension_value,
        # "{}" is what json.dumps gives for no dimensions, without its cost on every record.
        dimensions=(
            json.dumps(dict(dimensions), sort_keys=True, default=str) if dimensions else "{}"
        ),
        quantity=quantity,
        window_start=start,
        window_end=end,
        idempotency_key=key,
    )


ROW_COLUMNS = Row._fields  # the API insert and the COPY import share it
COLUMNS = (
    *ROW_COLUMNS,
    "source",
    "received_at",
)


# The columns' types, for the PostgreSQL insert that takes one array per column.
ARRAY_TYPES = {
    "tenant_id": "bigint",
    "meter_id": "bigint",
    "resource_id": "text",
    "resource_name": "text",
    "region": "text",
    "dimension_value": "text",
    "dimensions": "jsonb",
    "quantity": "numeric",
    "window_start": "timestamptz",
    "window_end": "timestamptz",
    "idempotency_key": "text",
}


def copy_new_records(rows: list[Row], *, source: str, received_at: datetime.datetime) -> int | None:
    """PostgreSQL: COPY the rows straight into the table, the cheapest way in, when none of
    their keys is stored yet (the usual case); None, and nothing of them kept, when one is."""
    from psycopg.errors import UniqueViolation

    table = UsageRecord._meta.db_table
    try:
        # In a savepoint: a duplicate key refuses the whole COPY and leaves nothing behind.
        # The COPY runs on psycopg's own cursor, whose errors Django does not see: its wrapper
        # makes them Django's, so a server gone mid-COPY is an OperationalError (the API's 503)
        # and the connection is marked broken, not a stray psycopg error (a 500).
        with (
            connection.wrap_database_errors,
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row((*row, source, received_at))
    except IntegrityError as error:
        if isinstance(error.__cause__, UniqueViolation):
            return None  # sent (or imported) before, or by another producer at the same time
        raise
    return len(rows)


def insert_records(rows: list[Row], *, source: str) -> int:
    """Insert rows whose (tenant, key) is new; return how many were stored."""
    if not rows:
        return 0
    table = UsageRecord._meta.db_table
    now = timezone.now()
    conflict = " ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id"
    params: list[Any]
    if connection.vendor == "postgresql":
        stored = copy_new_records(rows, source=source, received_at=now)
        if stored is not None:
            return stored
        # One array per column: a short statement, the same for every batch. Rendering a
        # VALUES list of 500 rows x 13 placeholders cost psycopg more than the insert cost the
        # server (the text is too long for its cache, so it is split anew each time).
        arrays = ", ".join(f"%s::{ARRAY_TYPES[name]}[]" for name in ROW_COLUMNS)
        sql = (
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) "  # noqa: S608 - names are ours
            f"SELECT *, %s, %s FROM unnest({arrays})" + conflict
        )
        params = [source, now, *(list(values) for values in zip(*rows, strict=True))]
    else:
        placeholders = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
        sql = (
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES "  # noqa: S608 - names are ours
            + ", ".join([placeholders] * len(rows))
            + conflict
        )
        params = []
        for row in rows:
            params.extend([*row.values(), source, now])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return len(cursor.fetchall())


INSERT_CHUNK = 500  # rows per statement: 13 parameters each stays far below every driver limit


def ingest(
    records: Iterable[object], *, source: str, catalogue: Catalogue | None = None
) -> IngestResult:
    """Validate and store a batch. Bad records are listed by index; good ones are stored."""
    records = list(records)
    # A batch names a few tenants: load those, not all of them (10,000 ids on every request).
    catalogue = catalogue or Catalogue(_named_tenants(records))
    result = IngestResult()
    rows: list[Row] = []
    seen: set[tuple[int, str]] = set()
    for index, raw in enumerate(records):
        try:
            row = parse_record(raw, catalogue)
        except RecordError as error:
            result.rejected.append((index, str(error)))
            continue
        if (row.tenant_id, row.idempotency_key) in seen:
            result.duplicates += 1  # repeated inside this batch
            continue
        seen.add((row.tenant_id, row.idempotency_key))
        rows.append(row)
    with transaction.atomic():
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            stored = insert_records(chunk, source=source)
            result.accepted += stored
            result.duplicates += len(chunk) - stored
    return result
