"""Reads for the usage dashboard and its exports: totals, daily series, top resources, and the
proforma projection of the current month's invoice.

Every figure comes from SQL aggregates over the filtered records (``GROUP BY`` meter, dimension,
month or day), so the number of queries and the Python work depend on the number of meters, days
and tenants shown, never on the number of records. A record belongs to the day (India's time) its
window starts on, as it does for the monthly run.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import (
    CharField,
    Count,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    Window,
)
from django.db.models.functions import Cast, Concat, RowNumber, TruncDate, TruncMonth, TruncWeek

from billing_portal.lib import tax
from billing_portal.lib.money import group_indian, money_round
from invoices import generation
from invoices.generation import IST, Period, TenantPlan
from invoices.models import InvoiceLine
from tenants.models import ProviderProfile, Tenant
from usage.models import Meter, Subscription, UsageRecord
from usage.rating import rate

ZERO = Decimal("0")
CATEGORY_LABELS = dict(Meter.Category.choices)


def format_quantity(value: Decimal) -> str:
    """A quantity the Indian way, to at most three decimals: 12,34,567.5."""
    rounded = value.quantize(Decimal("0.001"))
    sign = "-" if rounded < 0 else ""
    whole, _, fraction = f"{abs(rounded):f}".partition(".")
    fraction = fraction.rstrip("0")
    return f"{sign}{group_indian(whole)}{'.' + fraction if fraction else ''}"


def moment(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of ``day`` in India's time."""
    return datetime.datetime.combine(day, datetime.time(), IST)


@dataclass(frozen=True)
class UsageScope:
    """What the dashboard shows: one tenant or all, an inclusive date range, a meter or category."""

    tenant: Tenant | None
    start: datetime.date | None  # None: from the first record
    end: datetime.date
    meter: Meter | None = None
    category: str = ""


def billed_invoice_number() -> Subquery:
    """For annotating records: the number of the invoice that billed each (null for a draft or
    while it waits)."""
    held = generation.ranges_holding(
        tenant_id=OuterRef("tenant_id"),
        meter_id=OuterRef("meter_id"),
        dimension_value=OuterRef("dimension_value"),
        window_start=OuterRef("window_start"),
        record_id=OuterRef("pk"),
    )
    return Subquery(held.values("invoice__number")[:1])


def usage_records(scope: UsageScope) -> QuerySet[UsageRecord]:
    records = UsageRecord.objects.filter(window_start__lt=moment(scope.end + datetime.timedelta(1)))
    if scope.tenant is not None:
        records = records.filter(tenant=scope.tenant)
    if scope.start is not None:
        records = records.filter(window_start__gte=moment(scope.start))
    if scope.meter is not None:
        records = records.filter(meter=scope.meter)
    if scope.category:
        records = records.filter(meter__category=scope.category)
    return records


def first_day(records: QuerySet[UsageRecord]) -> datetime.date | None:
    first = records.aggregate(first=Min("window_start"))["first"]
    return first.astimezone(IST).date() if first else None


# --- Pricing ----------------------------------------------------------------------------------


def tenant_pricing(tenant: Tenant, start: datetime.date | None, end: datetime.date) -> TenantPlan:
    """The prices the monthly run would use for a range: the plan in force at its end, and the
    tenant's overrides (the same rule as ``generation.build_draft``)."""
    subscriptions = Subscription.objects.filter(tenant=tenant, starts_on__lte=end)
    if start is not None:
        subscriptions = subscriptions.filter(Q(ends_on__isnull=True) | Q(ends_on__gte=start))
    # generation._pricing is the run's own rule; reused so that the two can never disagree.
    return generation._pricing(tenant, list(subscriptions))


# --- Totals -----------------------------------------------------------------------------------


@dataclass
class MeterTotal:
    meter: Meter
    dimension: str
    quantity: Decimal = ZERO  # in the meter's unit
    records: int = 0
    cost: Decimal | None = None  # rupees before GST; None: not rated (no tenant or no price)

    @property
    def label(self) -> str:
        return self.meter.name + (f" · {self.dimension}" if self.dimension else "")

    @property
    def records_text(self) -> str:
        return format_quantity(Decimal(self.records))

    @property
    def quantity_text(self) -> str:
        return format_quantity(self.quantity)


@dataclass
class UnitTotal:
    unit: str
    quantity: Decimal

    @property
    def quantity_text(self) -> str:
        return format_quantity(self.quantity)


@dataclass
class CategoryTotal:
    category: str
    records: int = 0
    resources: int = 0
    meters: list[MeterTotal] = field(default_factory=list)
    cost: Decimal | None = None  # the sum of its rated meters; None when none was rated
    unpriced: int = 0  # meters with usage but no price

    @property
    def label(self) -> str:
        return CATEGORY_LABELS.get(self.category, self.category)

    @property
    def records_text(self) -> str:
        return format_quantity(Decimal(self.records))

    @property
    def units(self) -> list[UnitTotal]:
        """Quantities per unit: meters of one unit add up (ingress + egress GB), others never."""
        totals: dict[str, Decimal] = {}
        for meter in self.meters:
            totals[meter.meter.unit] = totals.get(meter.meter.unit, ZERO) + meter.quantity
        return [UnitTotal(unit, quantity) for unit, quantity in totals.items()]


@dataclass
class Breakdown:
    categories: list[CategoryTotal]
    meters: list[MeterTotal]
    records: int
    resources: int
    rated: bool  # costs were computed (one tenant)

    @property
    def records_text(self) -> str:
        return format_quantity(Decimal(self.records))

    @property
    def resources_text(self) -> str:
        return format_quantity(Decimal(self.resources))

    @property
    def cost(self) -> Decimal | None:
        costs = [m.cost for m in self.meters if m.cost is not None]
        return sum(costs, ZERO) if costs else None

    @property
    def unpriced(self) -> list[MeterTotal]:
        return [m for m in self.meters if self.rated and m.cost is None and m.quantity]


def _resource_key() -> Concat:
    # A resource id is unique within its tenant only.
    return Concat(Cast("tenant_id", CharField()), Value(":"), "resource_id")


def monthly_groups(records: QuerySet[UsageRecord]) -> QuerySet[Any, Any]:
    """Quantity and record count per tenant, meter, dimension value and month (India's time),
    the grain at which the monthly run prices usage (tiers and allowances are per month)."""
    return (
        records.annotate(month=TruncMonth("window_start", tzinfo=IST))
        .values("tenant_id", "tenant__display_name", "meter_id", "dimension_value", "month")
        .annotate(quantity=Sum("quantity"), records=Count("id"))
        .order_by("tenant_id", "meter_id", "dimension_value", "month")
    )


def usage_breakdown(
    records: QuerySet[UsageRecord], meters: dict[int, Meter], pricing: TenantPlan | None
) -> Breakdown:
    """Totals per meter (and dimension value) and per category; rated when ``pricing`` is given.

    Costs are an estimate for a range: each month's quantity is rated on its own, so a range that
    cuts a month in two gets that month's whole included allowance.
    """
    by_meter: dict[tuple[int, str], MeterTotal] = {}
    for group in monthly_groups(records):
        key = (group["meter_id"], group["dimension_value"])
        total = by_meter.get(key)
        if total is None:
            total = by_meter[key] = MeterTotal(meters[key[0]], key[1])
        total.quantity += group["quantity"]
        total.records += group["records"]
        price = pricing.price_for(*key) if pricing is not None else None
        if price is not None:
            total.cost = (total.cost or ZERO) + rate(price, group["quantity"]).amount

    resources = dict(
        records.values("meter__category")
        .annotate(n=Count(_resource_key(), distinct=True))
        .values_list("meter__category", "n")
        .order_by()
    )
    order = {code: i for i, code in enumerate(Meter.Category.values)}
    meter_rows = sorted(
        by_meter.values(),
        key=lambda m: (order.get(m.meter.category, 99), m.meter.pk, m.dimension),
    )
    categories: dict[str, CategoryTotal] = {}
    for row in meter_rows:
        category = categories.setdefault(
            row.meter.category,
            CategoryTotal(row.meter.category, resources=resources.get(row.meter.category, 0)),
        )
        category.meters.append(row)
        category.records += row.records
        if row.cost is not None:
            category.cost = (category.cost or ZERO) + row.cost
        elif pricing is not None and row.quantity:
            category.unpriced += 1
    all_resources = records.aggregate(n=Count(_resource_key(), distinct=True))["n"]
    return Breakdown(
        categories=list(categories.values()),
        meters=meter_rows,
        records=sum(row.records for row in meter_rows),
        resources=all_resources or 0,
        rated=pricing is not None,
    )


# --- Series for the chart ---------------------------------------------------------------------

BUCKETS = {"day": TruncDate, "week": TruncWeek, "month": TruncMonth}


def bucket_for(start: datetime.date, end: datetime.date) -> str:
    """Days up to four months; weeks up to two years; months beyond (keeps bars readable)."""
    days = (end - start).days + 1
    return "day" if days <= 124 else "week" if days <= 731 else "month"


def bucket_start(day: datetime.date, bucket: str) -> datetime.date:
    if bucket == "week":
        return day - datetime.timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


def usage_series(
    records: QuerySet[UsageRecord], bucket: str
) -> dict[int, dict[datetime.date, Decimal]]:
    """Meter id -> {first day of the bucket: quantity}."""
    trunc = BUCKETS[bucket]("window_start", tzinfo=IST)
    series: dict[int, dict[datetime.date, Decimal]] = defaultdict(dict)
    rows = (
        records.annotate(bucket=trunc)
        .values("bucket", "meter_id")
        .annotate(quantity=Sum("quantity"))
        .order_by("bucket", "meter_id")
    )
    for row in rows:
        value = row["bucket"]
        day = value.astimezone(IST).date() if isinstance(value, datetime.datetime) else value
        series[row["meter_id"]][day] = row["quantity"]
    return dict(series)


# --- Top resources ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TopResource:
    meter: Meter
    rank: int
    tenant_name: str
    resource_id: str
    resource_name: str
    region: str
    quantity: Decimal
    records: int
    share: Decimal | None  # percent of the meter's quantity in the range

    @property
    def quantity_text(self) -> str:
        return format_quantity(self.quantity)


def top_resources(
    records: QuerySet[UsageRecord], meters: dict[int, Meter], totals: Iterable[MeterTotal], n: int
) -> list[TopResource]:
    """The ``n`` largest resources of each meter by quantity (a window function: one query)."""
    per_meter: dict[int, Decimal] = defaultdict(Decimal)
    for total in totals:
        per_meter[total.meter.pk] += total.quantity
    ranked = (
        records.values("meter_id", "tenant_id", "resource_id")
        .annotate(
            quantity=Sum("quantity"),
            records=Count("id"),
            resource_name=Max("resource_name"),
            region=Max("region"),
            tenant_name=Max("tenant__display_name"),
        )
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("meter_id")],
                order_by=[F("quantity").desc(), F("tenant_id").asc(), F("resource_id").asc()],
            )
        )
        .filter(rank__lte=n)
        .order_by("meter_id", "rank")
    )
    order = {code: i for i, code in enumerate(Meter.Category.values)}
    rows = []
    for row in ranked:
        meter = meters[row["meter_id"]]
        whole = per_meter.get(meter.pk)
        rows.append(
            TopResource(
                meter=meter,
                rank=row["rank"],
                tenant_name=row["tenant_name"],
                resource_id=row["resource_id"],
                resource_name=row["resource_name"],
                region=row["region"],
                quantity=row["quantity"],
                records=row["records"],
                share=(row["quantity"] * 100 / whole).quantize(Decimal("0.1")) if whole else None,
            )
        )
    rows.sort(key=lambda r: (order.get(r.meter.category, 99), r.meter.pk, r.rank))
    return rows


# --- The current month: cost so far and the projected invoice ---------------------------------


@dataclass(frozen=True)
class ProjectedLine:
    description: str
    kind: str
    unit: str
    quantity: Decimal  # so far
    projected_quantity: Decimal
    amount: Decimal  # rupees so far, before GST
    projected_amount: Decimal  # rupees for the whole month, before GST
    tax_rate: Decimal
    scaled: bool  # a usage line of this month, extrapolated to the month's end

    @property
    def quantity_text(self) -> str:
        return format_quantity(self.quantity)

    @property
    def projected_quantity_text(self) -> str:
        return format_quantity(self.projected_quantity)


@dataclass(frozen=True)
class Projection:
    """A proforma estimate of a tenant's invoice for the current month; not a tax invoice."""

    tenant: Tenant
    period: Period
    days_elapsed: int
    days_in_period: int
    lines: list[ProjectedLine]
    so_far: tax.Totals
    projected: tax.Totals
    records: int

    @property
    def factor(self) -> Decimal:
        return Decimal(self.days_in_period) / Decimal(self.days_elapsed)

    def _sum(self, kind: str, projected: bool) -> Decimal:
        return sum(
            (
                line.projected_amount if projected else line.amount
                for line in self.lines
                if line.kind == kind
            ),
            ZERO,
        )

    @property
    def usage_so_far(self) -> Decimal:
        return self._sum(InvoiceLine.Kind.USAGE, projected=False)

    @property
    def usage_projected(self) -> Decimal:
        return self._sum(InvoiceLine.Kind.USAGE, projected=True)

    @property
    def fees(self) -> Decimal:
        return self._sum(InvoiceLine.Kind.RECURRING, projected=False)


def supplier_state(tenant: Tenant) -> str:
    provider = ProviderProfile.objects.filter(pk=1).only("state").first()
    # As invoice_recompute: without a provider profile yet, the supply is taken as intra-state.
    return provider.state if provider else tenant.state


def _totals(amounts: list[tuple[Decimal, Decimal]], supplier: str, tenant: Tenant) -> tax.Totals:
    return tax.compute(
        [tax.LineIn(amount=amount, rate=rate_) for amount, rate_ in amounts],
        supplier_state=supplier,
        place_of_supply=tenant.state,
    )


def billing_projection(tenant: Tenant, *, now: datetime.datetime) -> Projection:
    """What the monthly run would bill for this month if it ran ``now`` (``build_draft``), and
    the month projected: this month's usage lines scaled by days in month / days elapsed and
    priced again (tiers and included allowances apply to the projected quantity); plan fees,
    one-time charges and late usage of earlier months are not scaled."""
    today = now.astimezone(IST).date()
    period = Period.month(f"{today:%Y-%m}")
    draft = generation.build_draft(tenant, period, cutoff=now)
    days_in_period = (period.end - period.start).days + 1
    days_elapsed = (today - period.start).days + 1
    factor = Decimal(days_in_period) / Decimal(days_elapsed)
    pricing = tenant_pricing(tenant, period.start, period.end)
    groups = {index: (g.meter_id, g.dimension_value, g.month) for index, g in draft.usage_lines}
    lines = []
    for index, line in enumerate(draft.lines):
        group = groups.get(index)
        price = pricing.price_for(group[0], group[1]) if group else None
        this_month = group is not None and group[2].astimezone(IST).date() == period.start
        if this_month and price is not None:
            projected_quantity = (line.quantity * factor).quantize(Decimal("0.000001"))
            projected_amount = rate(price, projected_quantity).amount
        else:
            projected_quantity, projected_amount = line.quantity, line.amount
        lines.append(
            ProjectedLine(
                description=line.description,
                kind=line.kind,
                unit=line.unit,
                quantity=line.quantity,
                projected_quantity=projected_quantity,
                amount=line.amount,
                projected_amount=money_round(projected_amount),
                tax_rate=line.tax_rate,
                scaled=this_month and price is not None,
            )
        )
    supplier = supplier_state(tenant)
    return Projection(
        tenant=tenant,
        period=period,
        days_elapsed=days_elapsed,
        days_in_period=days_in_period,
        lines=lines,
        so_far=_totals([(line.amount, line.tax_rate) for line in lines], supplier, tenant),
        projected=_totals(
            [(line.projected_amount, line.tax_rate) for line in lines], supplier, tenant
        ),
        records=draft.records,
    )
