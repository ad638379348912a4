"""The payments page's export: its payments or refunds as CSV or XLSX, through the shared exporter.

``payment_export`` reads ``payment_filterset``, as the page does, so a file holds exactly the rows
the page listed; a customer's file leaves out the columns that are the billing team's business.
The view answers a small export at once; a larger one is an export job, which calls
``write_job`` with the URL parameters it stored.
"""

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db.models import F, QuerySet
from django.http import QueryDict
from django.utils import timezone

from billing_portal.lib.exports import Column, Table, write_export
from billing_portal.lib.exports import Kind as K
from exports.models import ExportJob
from exports.services import ExportRefused, query_of
from payments.filters import PAYMENTS, REFUNDS
from payments.models import Payment, Refund
from payments.selectors import payment_filterset
from tenants.roles import is_staff_member

GATEWAY_METHODS = {"upi": "UPI", "card": "Card", "netbanking": "Netbanking", "wallet": "Wallet"}
JOB_KINDS = {PAYMENTS: ExportJob.Kind.PAYMENTS, REFUNDS: ExportJob.Kind.REFUNDS}


def _label(choices: list[tuple[str, str]]) -> Callable[[Any], str]:
    labels = dict(choices)
    return lambda value: labels.get(value, value or "")


def _gateway_method(value: str) -> str:
    return GATEWAY_METHODS.get(value, value)


STAFF_ONLY = {"Needs review", "Gateway order ID", "Note", "Recorded by"}
PAYMENT_TABLE = Table(
    title="Payments",
    columns=(
        Column("Payment ID", "id", K.INTEGER, width=10),
        Column("Created at", "created_at", K.DATETIME, width=17),
        Column("Captured at", "captured_at", K.DATETIME, width=17),
        Column("Received on", "received_on", K.DATE, width=12),
        Column("Customer", "tenant__display_name", width=28),
        Column("Customer GSTIN", "tenant__gstin", width=18),
        Column("Invoice number", "invoice__number", width=18),
        Column("Amount (INR)", "amount", K.MONEY, total=True),
        Column("Refunded (INR)", "amount_refunded", K.MONEY, total=True),
        Column("Net received (INR)", "net", K.MONEY, total=True),
        Column("Currency", "currency", width=8),
        Column("Method", "method", show=_label(Payment.Method.choices), width=20),
        Column("Gateway method", "gateway_method", show=_gateway_method, width=12),
        Column("Status", "status", show=_label(Payment.Status.choices), width=12),
        Column("Needs review", "review_reason", width=30),
        Column("Reference", "reference", width=20),
        Column("Gateway order ID", "gateway_order_id", width=22),
        Column("Gateway payment ID", "gateway_payment_id", width=22),
        Column("Failure reason", "failure_reason", width=30),
        Column("Note", "note", width=30),
        Column("Recorded by", "recorded_by__username", width=14),
    ),
    annotations={"net": F("amount") - F("amount_refunded")},
    # Money received: captured payments only, as the summary's Captured and Refunded cards.
    total_when=("status", lambda status: status == Payment.Status.CAPTURED),
    total_label="Total of captured payments",
)
REFUND_TABLE = Table(
    title="Refunds",
    columns=(
        Column("Refund ID", "id", K.INTEGER, width=10),
        Column("Created at", "created_at", K.DATETIME, width=17),
        Column("Processed at", "processed_at", K.DATETIME, width=17),
        Column("Customer", "invoice__tenant__display_name", width=28),
        Column("Customer GSTIN", "invoice__tenant__gstin", width=18),
        Column("Invoice number", "invoice__number", width=18),
        Column("Payment ID", "payment_id", K.INTEGER, width=10),
        Column("Payment method", "payment__method", show=_label(Payment.Method.choices)),
        Column("Payment reference", "payment__reference", width=20),
        Column("Gateway payment ID", "payment__gateway_payment_id", width=22),
        Column("Amount (INR)", "amount", K.MONEY, total=True),
        Column("Status", "status", show=_label(Refund.Status.choices), width=12),
        Column("Reason", "reason", width=30),
        Column("Reference", "reference", width=20),
        Column("Gateway refund ID", "gateway_refund_id", width=22),
        Column("Failure reason", "failure_reason", width=30),
        Column("Recorded by", "recorded_by__username", width=14),
    ),
    total_when=("status", lambda status: status == Refund.Status.PROCESSED),
    total_label="Total of processed refunds",
)


@dataclass(frozen=True)
class PaymentExport:
    """The table and the query of its rows, for one user and one set of filters."""

    kind: str  # PAYMENTS or REFUNDS
    table: Table
    queryset: QuerySet[Any]

    def count(self) -> int:
        return self.queryset.count()

    def rows(self, *, as_text: bool = False) -> Iterator[Any]:
        return self.table.rows(self.queryset, as_text=as_text)

    def filename(self, fmt: str, today: datetime.date) -> str:
        return f"{self.kind}-{today:%Y%m%d}.{fmt}"


def payment_export(
    user: User, params: QueryDict, *, kind: str, tenant_id: int | None, today: datetime.date
) -> PaymentExport:
    """The export of the page these URL parameters show, or ExportRefused for a filter the page
    would show as wrong and ignore (a file would silently hold more rows)."""
    filterset = payment_filterset(user, params, kind=kind, tenant_id=tenant_id, today=today)
    if filterset.is_bound and not filterset.is_valid():
        raise ExportRefused(" ".join(str(e) for errs in filterset.errors.values() for e in errs))
    table = PAYMENT_TABLE if kind == PAYMENTS else REFUND_TABLE
    if not is_staff_member(user):
        table = table.without(STAFF_ONLY)
    return PaymentExport(kind, table, filterset.qs.order_by("-created_at", "-id"))


def write_job(job: ExportJob, path: Path, progress: Callable[[int], None]) -> tuple[str, int]:
    """An ExportJob of payments or refunds, rebuilt from its stored URL parameters."""
    kind = REFUNDS if job.kind == ExportJob.Kind.REFUNDS else PAYMENTS
    today = timezone.localdate()
    export = payment_export(
        job.requester, query_of(job.params), kind=kind, tenant_id=job.tenant_id, today=today
    )
    rows = write_export(export, job.format, path, progress=progress)
    return export.filename(job.format, today), rows
