"""The usage dashboard's exports: its records, or a breakdown per tenant, month, meter and
dimension, for the dashboard's filters, through the shared exporter.

The view answers a small export at once; a larger one is an export job, which calls
``write_job`` with the URL parameters it stored and reads the same records the dashboard does.
"""

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, QueryDict
from django.utils import timezone

from billing_portal.lib.exports import Column, Table, write_export
from billing_portal.lib.exports import Kind as K
from billing_portal.lib.money import money_round
from exports.models import ExportJob
from exports.services import ExportRefused, query_of
from tenants.models import Tenant
from usage import selectors
from usage.filters import usage_filters, usage_scope, usage_tenant
from usage.models import Meter, UsageRecord
from usage.rating import rate
from usage.selectors import IST, UsageScope, billed_invoice_number

RECORDS = "records"
BREAKDOWN = "breakdown"
KINDS = (RECORDS, BREAKDOWN)
JOB_KINDS = {RECORDS: ExportJob.Kind.USAGE_RECORDS, BREAKDOWN: ExportJob.Kind.USAGE_BREAKDOWN}


def _record_table() -> Table:
    return Table(
        title="Usage records",
        columns=(
            Column("Tenant", "tenant__display_name", width=28),
            Column("Meter", "meter__code", width=18),
            Column("Category", "meter__category", width=12),
            Column("Resource ID", "resource_id", width=20),
            Column("Resource name", "resource_name", width=20),
            Column("Region", "region", width=12),
            Column("Dimension", "dimension_value", width=10),
            Column("Quantity", "quantity", K.NUMBER, width=12),
            Column("Unit", "meter__unit", width=12),
            Column("Window start", "window_start", K.DATETIME, width=17),
            Column("Window end", "window_end", K.DATETIME, width=17),
            Column("Idempotency key", "idempotency_key", width=24),
            Column("Invoice", "billed_on", width=18),
        ),
        annotations={"billed_on": billed_invoice_number()},
    )


# Rows built in Python (rated per group): ``field`` names only what each column holds.
BREAKDOWN_TABLE = Table(
    title="Usage breakdown",
    columns=(
        Column("Tenant", "tenant", width=28),
        Column("Month", "month", width=9),
        Column("Category", "category", width=12),
        Column("Meter", "meter", width=18),
        Column("Dimension", "dimension", width=10),
        Column("Unit", "unit", width=12),
        Column("Records", "records", K.INTEGER, width=9),
        Column("Quantity", "quantity", K.NUMBER, width=14),
        Column("Rated amount (INR, before GST)", "amount", K.MONEY, total=True, width=16),
    ),
    total_label="Total rated",
)


def _breakdown_rows(
    records: QuerySet[UsageRecord],
    meters: dict[int, Meter],
    tenant: Tenant | None,
    scope: UsageScope,
) -> Iterator[tuple[Any, ...]]:
    """One row per tenant, month, meter and dimension: the grain of an invoice's usage lines.
    Rated (at the tenant's current prices) only when one tenant is chosen."""
    pricing = selectors.tenant_pricing(tenant, scope.start, scope.end) if tenant else None
    groups = selectors.monthly_groups(records).order_by(
        "tenant_id", "month", "meter_id", "dimension_value"
    )
    for group in groups.iterator(chunk_size=2000):
        meter = meters[group["meter_id"]]
        price = pricing.price_for(meter.pk, group["dimension_value"]) if pricing else None
        amount = rate(price, group["quantity"]).amount if price else None
        yield (
            group["tenant__display_name"],
            f"{group['month'].astimezone(IST):%Y-%m}",
            meter.category,
            meter.code,
            group["dimension_value"],
            meter.unit,
            group["records"],
            group["quantity"],
            money_round(amount) if amount is not None else None,
        )


@dataclass(frozen=True)
class UsageExport:
    """What to write: the table and the records it reads, for one scope of the dashboard."""

    kind: str  # RECORDS or BREAKDOWN
    table: Table
    records: QuerySet[UsageRecord]
    scope: UsageScope
    meters: dict[int, Meter]

    def count(self) -> int:
        """Rows of the file: records, or groups of the breakdown."""
        if self.kind == RECORDS:
            return self.records.count()
        return selectors.monthly_groups(self.records).count()

    def rows(self, *, as_text: bool = False) -> Iterator[Any]:
        if self.kind == RECORDS:
            ordered = self.records.order_by("window_start", "id")
            return self.table.rows(ordered, as_text=as_text)
        return _breakdown_rows(self.records, self.meters, self.scope.tenant, self.scope)

    def filename(self, fmt: str) -> str:
        scope = self.scope
        who = f"{scope.tenant.pk}-" if scope.tenant else ""
        since = f"{scope.start:%Y%m%d}-" if scope.start else "start-"
        return f"usage-{self.kind}-{who}{since}{scope.end:%Y%m%d}.{fmt}"


def usage_export(
    params: QueryDict, *, kind: str, tenant: Tenant | None, today: datetime.date
) -> UsageExport:
    """The export of the dashboard these URL parameters show for ``tenant`` (None: every
    tenant), or ExportRefused for filters the dashboard would show as wrong."""
    form, meter_list = usage_filters(params)
    if form.errors:
        raise ExportRefused(" ".join(str(e) for errs in form.errors.values() for e in errs))
    scope = usage_scope(form, tenant, today)
    return UsageExport(
        kind=kind,
        table=_record_table() if kind == RECORDS else BREAKDOWN_TABLE,
        records=selectors.usage_records(scope),
        scope=scope,
        meters={m.pk: m for m in meter_list},
    )


def write_job(job: ExportJob, path: Path, progress: Callable[[int], None]) -> tuple[str, int]:
    """An ExportJob of usage records or the breakdown, rebuilt from its stored URL parameters
    (its tenant: the requester's organisation, or for staff the one the filters name)."""
    params = query_of(job.params)
    try:
        tenant = usage_tenant(job.requester, params.get("tenant", "").strip(), own=job.tenant)
    except Http404:
        raise ExportRefused("The organisation these filters name no longer exists.") from None
    kind = BREAKDOWN if job.kind == ExportJob.Kind.USAGE_BREAKDOWN else RECORDS
    export = usage_export(params, kind=kind, tenant=tenant, today=timezone.localdate())
    rows = write_export(export, job.format, path, progress=progress)
    return export.filename(job.format), rows
