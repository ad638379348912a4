"""The monthly run: one draft subscription invoice per tenant and period, from SQL aggregates.

For each tenant: the prorated plan fee of every subscription that covers part of the period; one
line per meter (and per dimension value, e.g. GPU type) and per month of usage, from a single
GROUP BY over the tenant's unbilled records; and its unbilled one-time charges. Each record and
charge is then linked to the line that billed it.

Why it is safe to run twice, or twice at once: the invoice row is created first, and a unique
constraint (one live subscription invoice per tenant and period) makes the second creator fail
and skip. Records are picked by ``received_at <= cutoff`` in both the aggregate and the linking
UPDATE, so a record that arrives while the run is working is neither counted nor linked: it waits
for the next invoice. Usage of an earlier month that arrived after its own invoice was made is
billed here, on a line naming its month.
"""

import datetime
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from billing_portal.lib.money import money_round
from invoices import services
from invoices.models import Invoice, InvoiceLine
from tenants.models import Tenant
from usage.models import Meter, OneTimeCharge, PlanPrice, PriceOverride, Subscription, UsageRecord
from usage.rating import Price, parse_tiers, prorate, rate

log = logging.getLogger(__name__)
IST = ZoneInfo("Asia/Kolkata")
K = InvoiceLine.Kind
QUANTITY_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class Period:
    start: datetime.date
    end: datetime.date  # inclusive

    @classmethod
    def month(cls, text: str) -> "Period":
        """'2026-10' -> 1 Oct 2026 to 31 Oct 2026."""
        try:
            year, month = (int(part) for part in text.split("-"))
            start = datetime.date(year, month, 1)
        except ValueError:
            raise ValueError(f"{text!r} is not a month like 2026-10.") from None
        return cls(start, _next_month(start) - datetime.timedelta(days=1))

    @classmethod
    def previous_month(cls, today: datetime.date) -> "Period":
        start = _next_month(today.replace(day=1), -1)
        return cls(start, today.replace(day=1) - datetime.timedelta(days=1))

    @property
    def end_moment(self) -> datetime.datetime:
        """The first instant after the period, in India's time."""
        return datetime.datetime.combine(
            self.end + datetime.timedelta(days=1), datetime.time(), IST
        )

    def __str__(self) -> str:
        return f"{self.start:%b %Y}"


def _next_month(day: datetime.date, step: int = 1) -> datetime.date:
    index = day.year * 12 + day.month - 1 + step
    return datetime.date(index // 12, index % 12 + 1, 1)


@dataclass
class TenantPlan:
    """What prices a tenant's usage: overrides first, then its plan's prices."""

    prices: dict[tuple[int, str], Price] = field(default_factory=dict)

    def price_for(self, meter_id: int, dimension: str) -> Price | None:
        return self.prices.get((meter_id, dimension)) or self.prices.get((meter_id, ""))


def _price(row: PlanPrice | PriceOverride) -> Price:
    return Price(
        model=row.model,
        unit_price=row.unit_price,
        tiers=parse_tiers(row.tiers) if row.tiers else (),
        included=row.included_quantity,
    )


def _pricing(
    tenant: Tenant, subscriptions: list[Subscription], preloaded: "Preloaded | None" = None
) -> TenantPlan:
    plan = TenantPlan()
    # The plan in force at the end of the period prices its usage.
    if subscriptions:
        current = max(subscriptions, key=lambda s: s.starts_on)
        if preloaded is not None:
            plan.prices.update(preloaded.plan_prices.get(current.plan_id, {}))
        else:
            for row in PlanPrice.objects.filter(plan_id=current.plan_id):
                plan.prices[(row.meter_id, row.dimension_value)] = _price(row)
    if preloaded is not None:
        plan.prices.update(preloaded.overrides.get(tenant.pk, {}))
    else:
        for override in PriceOverride.objects.filter(tenant=tenant):
            plan.prices[(override.meter_id, override.dimension_value)] = _price(override)
    return plan


def _subscriptions(period: Period) -> QuerySet[Subscription]:
    """Subscriptions covering part of the period (ordered as the model orders them)."""
    return (
        Subscription.objects.filter(starts_on__lte=period.end)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=period.start))
        .select_related("plan")
    )


@dataclass
class Preloaded:
    """What the drafts of a chunk of tenants read besides their usage, read once for the chunk
    rather than once per tenant: the meters, the prices of the plans in use, and each tenant's
    subscriptions and price overrides."""

    meters: dict[int, Meter]
    plan_prices: dict[int, dict[tuple[int, str], Price]]
    subscriptions: dict[int, list[Subscription]]
    overrides: dict[int, dict[tuple[int, str], Price]]

    @classmethod
    def load(cls, tenant_ids: list[int], period: Period) -> "Preloaded":
        subscriptions: dict[int, list[Subscription]] = {}
        for sub in _subscriptions(period).filter(tenant_id__in=tenant_ids):
            subscriptions.setdefault(sub.tenant_id, []).append(sub)
        plan_prices: dict[int, dict[tuple[int, str], Price]] = {}
        plan_ids = {sub.plan_id for subs in subscriptions.values() for sub in subs}
        for row in PlanPrice.objects.filter(plan_id__in=plan_ids):
            plan_prices.setdefault(row.plan_id, {})[(row.meter_id, row.dimension_value)] = _price(
                row
            )
        overrides: dict[int, dict[tuple[int, str], Price]] = {}
        for override in PriceOverride.objects.filter(tenant_id__in=tenant_ids):
            overrides.setdefault(override.tenant_id, {})[
                (override.meter_id, override.dimension_value)
            ] = _price(override)
        return cls(
            meters={m.pk: m for m in Meter.objects.all()},
            plan_prices=plan_prices,
            subscriptions=subscriptions,
            overrides=overrides,
        )


@dataclass
class Draft:
    """What the run would put on a tenant's invoice (also what --dry-run prints)."""

    tenant: Tenant
    lines: list[services.LineData] = field(default_factory=list)
    # (line index, meter id, dimension, month start) of each usage line, to link its records.
    usage_groups: list[tuple[int, int, str, datetime.datetime]] = field(default_factory=list)
    charges: list[tuple[int, OneTimeCharge]] = field(default_factory=list)
    records: int = 0

    @property
    def subtotal(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))


def build_draft(
    tenant: Tenant,
    period: Period,
    *,
    cutoff: datetime.datetime,
    preloaded: Preloaded | None = None,
) -> Draft:
    draft = Draft(tenant)
    if preloaded is not None:
        subscriptions = preloaded.subscriptions.get(tenant.pk, [])
    else:
        subscriptions = list(_subscriptions(period).filter(tenant=tenant))
    for sub in subscriptions:
        amount, days, days_in_period = prorate(
            sub.plan.monthly_fee,
            period_start=period.start,
            period_end=period.end,
            active_from=sub.starts_on,
            active_to=sub.ends_on,
        )
        if amount <= 0:
            continue
        partial = days != days_in_period
        draft.lines.append(
            services.LineData(
                description=f"{sub.plan.name} plan - monthly fee"
                + (f" ({days} of {days_in_period} days)" if partial else ""),
                quantity=Decimal(days) / Decimal(days_in_period) if partial else Decimal("1"),
                unit_price=sub.plan.monthly_fee,
                kind=K.RECURRING,
                unit="month",
                tax_rate=sub.plan.tax_rate,
                period_start=max(period.start, sub.starts_on),
                period_end=min(period.end, sub.ends_on) if sub.ends_on else period.end,
                priced_amount=amount,
                pricing_detail=f"₹{sub.plan.monthly_fee} × {days}/{days_in_period} days"
                if partial
                else "",
            )
        )

    pricing = _pricing(tenant, subscriptions, preloaded)
    meters = preloaded.meters if preloaded else {m.pk: m for m in Meter.objects.all()}
    groups = (
        UsageRecord.objects.filter(
            tenant=tenant,
            invoice_line__isnull=True,
            window_start__lt=period.end_moment,
            received_at__lte=cutoff,
        )
        .annotate(month=TruncMonth("window_start", tzinfo=IST))
        .values("meter_id", "dimension_value", "month")
        .annotate(quantity=Sum("quantity"), records=Count("id"))
        .order_by("month", "meter_id", "dimension_value")
    )
    for group in groups:
        meter = meters[group["meter_id"]]
        dimension = group["dimension_value"]
        month: datetime.datetime = group["month"]
        price = pricing.price_for(meter.pk, dimension)
        if price is None:
            log.warning(
                "tenant %s: no price for %s %s; left unbilled", tenant.pk, meter.code, dimension
            )
            continue
        # Records carry at most 6 places; SQLite sums decimals as floats (PostgreSQL's NUMERIC is
        # exact), so the sum is brought back to the field's precision before it is priced.
        quantity = Decimal(group["quantity"]).quantize(QUANTITY_PLACES)
        rated = rate(price, quantity)
        month_start = month.astimezone(IST).date()
        late = month_start < period.start
        name = meter.name + (f" - {dimension}" if dimension else "")
        if late:
            name += f" (usage of {month_start:%b %Y}, received late)"
        draft.usage_groups.append((len(draft.lines), meter.pk, dimension, month))
        draft.records += group["records"]
        draft.lines.append(
            services.LineData(
                description=name,
                quantity=rated.quantity,
                unit_price=rated.average_unit_price,
                kind=K.USAGE,
                unit=meter.unit,
                sac_code=meter.sac_code,
                resource_type=meter.category,
                period_start=month_start,
                period_end=min(_next_month(month_start) - datetime.timedelta(days=1), period.end),
                priced_amount=rated.amount,
                pricing_detail=rated.detail,
            )
        )

    for charge in OneTimeCharge.objects.filter(
        tenant=tenant, invoice_line__isnull=True, created_at__lte=cutoff
    ).order_by("created_at"):
        draft.charges.append((len(draft.lines), charge))
        draft.lines.append(
            services.LineData(
                description=charge.description,
                quantity=charge.quantity,
                unit_price=charge.unit_price,
                kind=K.ONE_TIME,
                unit=charge.unit,
                sac_code=charge.sac_code,
                tax_rate=charge.tax_rate,
            )
        )
    return draft


def generate_invoice(
    *,
    tenant: Tenant,
    period: Period,
    cutoff: datetime.datetime | None = None,
    preloaded: Preloaded | None = None,
) -> Invoice | None:
    """The tenant's draft for the period, or None when it exists already or has nothing to bill."""
    cutoff = cutoff or timezone.now()
    with transaction.atomic():
        draft = build_draft(tenant, period, cutoff=cutoff, preloaded=preloaded)
        if not draft.lines or money_round(draft.subtotal) <= 0:
            return None
        try:
            invoice = services.invoice_create(
                tenant=tenant,
                lines=draft.lines,
                actor=None,
                kind=Invoice.Kind.SUBSCRIPTION,
                period_start=period.start,
                period_end=period.end,
            )
        except services.DuplicatePeriodError:
            return None  # the unique constraint: this tenant's invoice for the period exists
        line_ids = list(invoice.lines.order_by("position").values_list("pk", flat=True))
        _link_usage(draft, line_ids, period, cutoff)
        for index, charge in draft.charges:
            OneTimeCharge.objects.filter(pk=charge.pk, invoice_line__isnull=True).update(
                invoice_line_id=line_ids[index]
            )
        log.info(
            "invoice draft %s for %s, %s: %s records", invoice.pk, tenant, period, draft.records
        )
        return invoice


def _link_usage(
    draft: Draft, line_ids: list[int], period: Period, cutoff: datetime.datetime
) -> None:
    """Link each billed record to its line, with the aggregate's filters for its group (meter,
    dimension value, month). The groups do not overlap: each record matches at most one."""
    windows = []
    for index, meter_id, dimension, month in draft.usage_groups:
        month_end = datetime.datetime.combine(
            _next_month(month.astimezone(IST).date()), datetime.time(), IST
        )
        windows.append((meter_id, dimension, month, min(month_end, period.end_moment), index))
    if not windows:
        return
    if connection.vendor != "postgresql":
        for meter_id, dimension, start, end, index in windows:
            UsageRecord.objects.filter(
                tenant=draft.tenant,
                invoice_line__isnull=True,
                meter_id=meter_id,
                dimension_value=dimension,
                window_start__gte=start,
                window_start__lt=end,
                received_at__lte=cutoff,
            ).update(invoice_line_id=line_ids[index])
        return
    # PostgreSQL: one statement for all of the tenant's groups, rather than one per group.
    groups = ", ".join(
        ["(%s::bigint, %s::text, %s::timestamptz, %s::timestamptz, %s::bigint)"] * len(windows)
    )
    params: list[Any] = []
    for meter_id, dimension, start, end, index in windows:
        params += [meter_id, dimension, start, end, line_ids[index]]
    table = UsageRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS r SET invoice_line_id = g.line_id "  # noqa: S608 - names are ours
            f"FROM (VALUES {groups}) AS g (meter_id, dimension_value, window_from, window_to, "
            "line_id) "
            "WHERE r.tenant_id = %s AND r.invoice_line_id IS NULL AND r.received_at <= %s "
            "AND r.meter_id = g.meter_id AND r.dimension_value = g.dimension_value "
            "AND r.window_start >= g.window_from AND r.window_start < g.window_to",
            [*params, draft.tenant.pk, cutoff],
        )


def release_billed_usage(invoice: Invoice) -> None:
    """Unlink a voided invoice's records and charges, so a regenerated invoice bills them."""
    UsageRecord.objects.filter(invoice_line__invoice=invoice).update(invoice_line=None)
    OneTimeCharge.objects.filter(invoice_line__invoice=invoice).update(invoice_line=None)


@dataclass
class RunResult:
    created: int = 0
    skipped: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)


def generate_for_tenants(
    tenant_ids: list[int], period: Period, *, cutoff: datetime.datetime | None = None
) -> RunResult:
    """Each tenant in its own transaction: one failure does not hold back the others."""
    result = RunResult()
    preloaded = Preloaded.load(tenant_ids, period)
    for tenant in Tenant.objects.filter(pk__in=tenant_ids).order_by("pk"):
        try:
            invoice = generate_invoice(
                tenant=tenant, period=period, cutoff=cutoff, preloaded=preloaded
            )
        except IntegrityError as error:
            result.skipped += 1
            log.info("tenant %s %s: created by a concurrent run (%s)", tenant.pk, period, error)
            continue
        except Exception as error:
            log.exception("tenant %s %s: generation failed", tenant.pk, period)
            result.failed.append((tenant.pk, str(error)))
            continue
        if invoice is None:
            result.skipped += 1
        else:
            result.created += 1
    return result
