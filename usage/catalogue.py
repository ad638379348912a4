"""The catalogue billing admins edit: meters, plans and the prices of a plan.

Writes raise ``ValidationError`` keyed by field (the pages show each message beside its field) and
change nothing when they do. Prices are read when an invoice is generated, so a change here applies
to invoices generated afterwards; issued invoices never change. Reads for the pages are at the end.
"""

import datetime
import logging
import re
from collections.abc import Sequence
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from billing_portal.lib.money import group_indian
from invoices.generation import _price
from usage.models import Meter, Plan, PlanPrice, PriceOverride, Pricing, UsageRecord
from usage.rating import Price, PricingError, Rated, Tier, parse_tiers, rate

log = logging.getLogger(__name__)

TIERED = {Pricing.Model.GRADUATED, Pricing.Model.VOLUME}


def sac_problem(value: str) -> str | None:
    """Why ``value`` is not the SAC code of a service, or None when it is."""
    if not re.fullmatch(r"[0-9]{4,8}", value):
        return "A SAC code is 4 to 8 digits."
    # Services are chapter 99 of the GST classification; other codes are HSN codes of goods.
    if not value.startswith("99"):
        return "Usage is a service: its SAC code starts with 99 (for example 998315)."
    return None


def _decimal_text(value: Decimal) -> str:
    return f"{value:f}"


def tiers_json(tiers: Sequence[Tier]) -> list[dict[str, object]]:
    """Tiers in the form ``Pricing.tiers`` stores (and ``rating.parse_tiers`` reads)."""
    return [
        {
            "up_to": None if tier.up_to is None else _decimal_text(tier.up_to),
            "unit_price": _decimal_text(tier.unit_price),
        }
        for tier in tiers
    ]


def tiers_problem(model: str, tiers: Sequence[Tier]) -> str | None:
    """Why these tiers cannot price ``model``, or None. The rules are ``rating.parse_tiers``'s, so
    the pages refuse exactly what the monthly run could not rate."""
    if model not in TIERED:
        return None
    if not tiers:
        return "Add at least one tier; leave “up to” empty on the last one."
    try:
        parse_tiers(tiers_json(tiers))
    except PricingError as error:
        return str(error)
    return None


# --- Meters ---------------------------------------------------------------------------------


def _check_meter(meter: Meter) -> None:
    errors: dict[str, list[str]] = {}
    problem = sac_problem(meter.sac_code)
    if problem:
        errors["sac_code"] = [problem]
    try:
        meter.full_clean()  # slugs, lengths, the category, a code no other meter has
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def _save_meter(meter: Meter) -> None:
    try:
        with transaction.atomic():
            meter.save()
    except IntegrityError:
        # Two admins saving the same new code at once: the unique index decides.
        raise ValidationError({"code": "Another meter has this code."}) from None


def meter_in_use(meter: Meter) -> bool:
    return UsageRecord.objects.filter(meter=meter).exists()


def _prices_name_values(meter: Meter) -> bool:
    """Plan or tenant prices for one value of the meter's dimension (an A100 price)."""
    return (
        PlanPrice.objects.filter(meter=meter).exclude(dimension_value="").exists()
        or PriceOverride.objects.filter(meter=meter).exclude(dimension_value="").exists()
    )


@transaction.atomic
def meter_create(
    *,
    code: str,
    name: str,
    unit: str,
    category: str,
    sac_code: str,
    dimension: str,
    actor: User,
) -> Meter:
    meter = Meter(
        code=code,
        name=name.strip(),
        unit=unit.strip(),
        category=category,
        sac_code=sac_code,
        dimension=dimension,
    )
    _check_meter(meter)
    _save_meter(meter)
    log.info("meter %s (%s) created by %s", meter.pk, meter.code, actor)
    return meter


@transaction.atomic
def meter_update(
    *,
    meter: Meter,
    code: str,
    name: str,
    unit: str,
    category: str,
    sac_code: str,
    dimension: str,
    actor: User,
) -> Meter:
    """Edit a meter; its code and dimension are fixed once usage records name it."""
    # The row lock also waits for records being inserted for this meter (their foreign key takes
    # a share lock on it), so the check below sees every record that can exist.
    locked = Meter.objects.select_for_update().get(pk=meter.pk)
    errors: dict[str, str] = {}
    if (code != locked.code or dimension != locked.dimension) and meter_in_use(locked):
        if code != locked.code:
            errors["code"] = (
                f"Usage records already use {locked.code}: metering systems and import files "
                "send usage by this code, and stored records, invoices and exports refer to it. "
                "Add a new meter and deactivate this one instead."
            )
        if dimension != locked.dimension:
            errors["dimension"] = (
                f"Usage records already split {locked.code} by "
                f"“{locked.dimension or 'nothing'}”: their stored values and this meter's prices "
                "would no longer match. Add a new meter and deactivate this one instead."
            )
        raise ValidationError(errors)
    if locked.dimension and not dimension and _prices_name_values(locked):
        raise ValidationError(
            {
                "dimension": f"Prices for single {locked.dimension} values use this meter: "
                "without the dimension they would never apply. Remove them first."
            }
        )
    locked.code = code
    locked.name = name.strip()
    locked.unit = unit.strip()
    locked.category = category
    locked.sac_code = sac_code
    locked.dimension = dimension
    _check_meter(locked)
    _save_meter(locked)
    log.info("meter %s (%s) updated by %s", locked.pk, locked.code, actor)
    return locked


@transaction.atomic
def meter_set_active(*, meter: Meter, active: bool, actor: User) -> Meter:
    """Deactivate (no new records, no new prices) or reactivate; meters are never deleted,
    because stored records and issued invoice lines keep pointing at them."""
    locked = Meter.objects.select_for_update().get(pk=meter.pk)
    if locked.active == active:
        state = "active" if active else "deactivated"
        raise ValidationError(f"{locked.name} is already {state}.")
    locked.active = active
    locked.save(update_fields=["active"])
    log.info("meter %s %s by %s", locked.pk, "reactivated" if active else "deactivated", actor)
    return locked


# --- Plans ----------------------------------------------------------------------------------


def _check_plan(plan: Plan) -> None:
    try:
        plan.full_clean()
    except ValidationError as error:
        raise ValidationError(error.message_dict) from None


def _save_plan(plan: Plan) -> None:
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError:
        raise ValidationError({"code": "Another plan has this code."}) from None


@transaction.atomic
def plan_create(
    *,
    code: str,
    name: str,
    currency: str,
    monthly_fee: Decimal,
    tax_rate: Decimal,
    actor: User,
) -> Plan:
    plan = Plan(
        code=code, name=name.strip(), currency=currency, monthly_fee=monthly_fee, tax_rate=tax_rate
    )
    if monthly_fee < 0:
        raise ValidationError({"monthly_fee": "A monthly fee cannot be negative."})
    _check_plan(plan)
    _save_plan(plan)
    log.info("plan %s (%s) created by %s", plan.pk, plan.code, actor)
    return plan


@transaction.atomic
def plan_update(
    *,
    plan: Plan,
    code: str,
    name: str,
    currency: str,
    monthly_fee: Decimal,
    tax_rate: Decimal,
    actor: User,
) -> Plan:
    """Edit a plan's header; the new fee and rate apply to invoices generated afterwards."""
    if monthly_fee < 0:
        raise ValidationError({"monthly_fee": "A monthly fee cannot be negative."})
    locked = Plan.objects.select_for_update().get(pk=plan.pk)
    locked.code = code
    locked.name = name.strip()
    locked.currency = currency
    locked.monthly_fee = monthly_fee
    locked.tax_rate = tax_rate
    _check_plan(locked)
    _save_plan(locked)
    log.info("plan %s (%s) updated by %s", locked.pk, locked.code, actor)
    return locked


@transaction.atomic
def plan_set_active(*, plan: Plan, active: bool, actor: User) -> Plan:
    """Close a plan to new subscriptions, or open it again.

    Deactivating is allowed while tenants are on the plan: they stay on it and are billed as
    before (a retired plan is kept for the customers who have it), until each is moved to another.
    """
    locked = Plan.objects.select_for_update().get(pk=plan.pk)
    if locked.active == active:
        state = "active" if active else "deactivated"
        raise ValidationError(f"{locked.name} is already {state}.")
    locked.active = active
    locked.save(update_fields=["active"])
    log.info("plan %s %s by %s", locked.pk, "reactivated" if active else "deactivated", actor)
    return locked


# --- Prices of a plan -----------------------------------------------------------------------


def _set_pricing(
    row: PlanPrice,
    *,
    model: str,
    unit_price: Decimal | None,
    included_quantity: Decimal,
    tiers: Sequence[Tier],
) -> None:
    """Put a pricing on ``row``, checked; the input the model does not use is dropped."""
    errors: dict[str, str] = {}
    if model not in Pricing.Model.values:
        errors["model"] = "Choose per unit, graduated or volume pricing."
    if included_quantity < 0:
        errors["included_quantity"] = "An included quantity cannot be negative."
    if model in TIERED:
        problem = tiers_problem(model, tiers)
        if problem:
            errors["tiers"] = problem
        row.unit_price = Decimal("0")
        row.tiers = tiers_json(tiers)
    else:
        if unit_price is None:
            errors["unit_price"] = "Enter the price per unit."
        elif unit_price < 0:
            errors["unit_price"] = "A unit price cannot be negative."
        row.unit_price = unit_price if unit_price is not None else Decimal("0")
        row.tiers = []
    if errors:
        raise ValidationError(errors)
    row.model = model
    row.included_quantity = included_quantity


@transaction.atomic
def plan_price_add(
    *,
    plan: Plan,
    meter: Meter,
    dimension_value: str,
    model: str,
    unit_price: Decimal | None,
    included_quantity: Decimal,
    tiers: Sequence[Tier],
    actor: User,
) -> PlanPrice:
    # One price change per plan at a time: the duplicate check below cannot race.
    Plan.objects.select_for_update().get(pk=plan.pk)
    dimension_value = dimension_value.strip()
    if not meter.active:
        raise ValidationError({"meter": f"{meter.name} is deactivated: reactivate it to price it."})
    if dimension_value and not meter.dimension:
        raise ValidationError(
            {"dimension_value": f"{meter.name} has no dimension: leave this empty."}
        )
    if PlanPrice.objects.filter(plan=plan, meter=meter, dimension_value=dimension_value).exists():
        if dimension_value:
            which = f" for {meter.dimension} {dimension_value}"
        elif meter.dimension:
            which = f" for every {meter.dimension} without its own price"
        else:
            which = ""
        field = "dimension_value" if meter.dimension else "meter"
        raise ValidationError(
            {field: f"{plan.name} already prices {meter.name}{which}: edit that price instead."}
        )
    row = PlanPrice(plan=plan, meter=meter, dimension_value=dimension_value)
    _set_pricing(
        row,
        model=model,
        unit_price=unit_price,
        included_quantity=included_quantity,
        tiers=tiers,
    )
    row.save()
    log.info("plan %s: price %s for %s added by %s", plan.pk, row.pk, meter.code, actor)
    return row


@transaction.atomic
def plan_price_update(
    *,
    price: PlanPrice,
    model: str,
    unit_price: Decimal | None,
    included_quantity: Decimal,
    tiers: Sequence[Tier],
    actor: User,
) -> PlanPrice:
    """New pricing for a meter on a plan; invoices generated afterwards use it."""
    locked = PlanPrice.objects.select_for_update().select_related("meter", "plan").get(pk=price.pk)
    _set_pricing(
        locked,
        model=model,
        unit_price=unit_price,
        included_quantity=included_quantity,
        tiers=tiers,
    )
    locked.save(update_fields=["model", "unit_price", "tiers", "included_quantity"])
    log.info("plan %s: price %s updated by %s", locked.plan_id, locked.pk, actor)
    return locked


@transaction.atomic
def plan_price_remove(*, price: PlanPrice, actor: User) -> str:
    """Remove a price; returns what prices that usage on the plan from now on."""
    locked = PlanPrice.objects.select_for_update().select_related("meter", "plan").get(pk=price.pk)
    locked.delete()
    log.info("plan %s: price %s removed by %s", locked.plan_id, price.pk, actor)
    fallback = (
        locked.dimension_value
        and PlanPrice.objects.filter(
            plan_id=locked.plan_id, meter_id=locked.meter_id, dimension_value=""
        ).exists()
    )
    if fallback:
        return (
            f"{locked.meter.name} for {locked.dimension_value} is now priced at the plan's price "
            f"for every {locked.meter.dimension}."
        )
    return (
        f"{locked.meter.name} has no price on {locked.plan.name} now: that usage is left unbilled "
        "(and billed later) until a price is added, unless a tenant has its own price."
    )


# --- Reads for the pages --------------------------------------------------------------------


def meter_rows() -> QuerySet[Meter]:
    # Exists, not a count: it stops at the first record, where a count reads every record.
    return Meter.objects.annotate(
        in_use=Exists(UsageRecord.objects.filter(meter=OuterRef("pk")))
    ).order_by("category", "code")


def ongoing(today: datetime.date) -> Q:
    """Subscriptions not yet ended on ``today`` (current, or starting later)."""
    return Q(subscriptions__ends_on__isnull=True) | Q(subscriptions__ends_on__gte=today)


def plan_rows(today: datetime.date | None = None) -> QuerySet[Plan]:
    today = today or timezone.localdate()
    return Plan.objects.annotate(
        active_subscriptions=Count("subscriptions", filter=ongoing(today), distinct=True),
        price_count=Count("prices", distinct=True),
    ).order_by("-active", "name")


def plan_active_subscriptions(plan: Plan, today: datetime.date | None = None) -> int:
    today = today or timezone.localdate()
    return plan.subscriptions.filter(Q(ends_on__isnull=True) | Q(ends_on__gte=today)).count()


def plan_prices(plan: Plan) -> QuerySet[PlanPrice]:
    return plan.prices.select_related("meter").order_by(
        "meter__category", "meter__code", "dimension_value"
    )


def number_text(value: Decimal) -> str:
    """A quantity or unit price for people: 10,000 and 4.5 (Indian grouping, no trailing zeros)."""
    sign = "-" if value < 0 else ""
    whole, _, fraction = f"{abs(value):f}".partition(".")
    fraction = fraction.rstrip("0")
    return f"{sign}{group_indian(whole)}{'.' + fraction if fraction else ''}"


def price_lines(row: PlanPrice) -> list[str]:
    """How a price reads on the plan page, one line per tier."""
    unit = row.meter.unit
    if row.model not in TIERED or not row.tiers:
        return [f"₹{number_text(row.unit_price)} per {unit}"]
    lines, floor = [], Decimal("0")
    for tier in parse_tiers(row.tiers):
        price = f"₹{number_text(tier.unit_price)}"
        if row.model == Pricing.Model.GRADUATED:
            span = (
                f"above {number_text(floor)}"
                if tier.up_to is None
                else f"{number_text(floor)} to {number_text(tier.up_to)}"
            )
            lines.append(f"{span}: {price} per {unit}")
        else:
            span = (
                f"above {number_text(floor)}"
                if tier.up_to is None
                else f"up to {number_text(tier.up_to)}"
            )
            lines.append(f"a total {span}: every {unit} at {price}")
        floor = tier.up_to if tier.up_to is not None else floor
    return lines


def price_of(row: PlanPrice) -> Price:
    """The rating price of a row, built by the monthly run's own code so the two agree."""
    return _price(row)


def rate_row(row: PlanPrice, quantity: Decimal) -> Rated:
    return rate(price_of(row), quantity)
