"""Rating: usage quantities and plan fees into rupees. Pure functions over Decimal.

* The included (free) quantity is taken off first.
* Per unit: every billable unit at the unit price.
* Graduated tiers: each unit at the price of the tier it falls in ("the first 1,000 at ₹1.20, the
  next 9,000 at ₹1.00, the rest at ₹0.80").
* Volume tiers: every unit at the price of the tier the whole quantity reaches.
* Plan fees are prorated by day when a subscription starts or ends inside the period.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from billing_portal.lib.money import money_round

ZERO = Decimal("0")


@dataclass(frozen=True)
class Tier:
    up_to: Decimal | None  # cumulative upper bound of billable quantity; None: no bound
    unit_price: Decimal  # rupees per unit


@dataclass(frozen=True)
class Price:
    model: str  # per_unit | graduated | volume
    unit_price: Decimal = ZERO
    tiers: tuple[Tier, ...] = ()
    included: Decimal = ZERO


@dataclass(slots=True)  # not frozen: built once per invoice line (see tax.LineIn)
class Rated:
    quantity: Decimal  # what was used
    billable: Decimal  # after the included quantity
    amount: Decimal  # rupees, to the paisa
    detail: str  # how the amount was reached, printed under the invoice line

    @property
    def average_unit_price(self) -> Decimal:
        return (
            (self.amount / self.billable).quantize(Decimal("0.000001")) if self.billable else ZERO
        )


class PricingError(ValueError):
    pass


def parse_tiers(raw: list[dict[str, object]]) -> tuple[Tier, ...]:
    """Tiers from their JSON form, checked: ascending bounds, only the last one open."""
    tiers = []
    previous = ZERO
    for index, item in enumerate(raw):
        up_to = item.get("up_to")
        bound = None if up_to in (None, "") else Decimal(str(up_to))
        price = Decimal(str(item["unit_price"]))
        if price < 0:
            raise PricingError(f"Tier {index + 1}: a price cannot be negative.")
        if bound is None and index != len(raw) - 1:
            raise PricingError("Only the last tier can be open-ended.")
        if bound is not None and bound <= previous:
            raise PricingError(f"Tier {index + 1}: bounds must increase.")
        previous = bound if bound is not None else previous
        tiers.append(Tier(bound, price))
    if tiers and tiers[-1].up_to is not None:
        raise PricingError("The last tier must be open-ended (leave 'up to' empty).")
    return tuple(tiers)


def _fmt(value: Decimal) -> str:
    return f"{value.normalize():f}"


def rate(price: Price, quantity: Decimal) -> Rated:
    if quantity < 0:
        raise PricingError("A quantity cannot be negative.")
    billable = max(ZERO, quantity - price.included)
    free = f"{_fmt(min(quantity, price.included))} included; " if price.included else ""
    if price.model == "per_unit" or not price.tiers:
        amount = money_round(billable * price.unit_price)
        return Rated(
            quantity, billable, amount, f"{free}{_fmt(billable)} × ₹{_fmt(price.unit_price)}"
        )
    if price.model == "volume":
        tier = next(t for t in price.tiers if t.up_to is None or billable <= t.up_to)
        amount = money_round(billable * tier.unit_price)
        return Rated(
            quantity,
            billable,
            amount,
            f"{free}{_fmt(billable)} × ₹{_fmt(tier.unit_price)} (volume)",
        )
    if price.model == "graduated":
        parts, amount, floor = [], ZERO, ZERO
        for tier in price.tiers:
            top = billable if tier.up_to is None else min(billable, tier.up_to)
            units = top - floor
            if units <= 0:
                break
            amount += units * tier.unit_price
            parts.append(f"{_fmt(units)} × ₹{_fmt(tier.unit_price)}")
            floor = top
        return Rated(quantity, billable, money_round(amount), free + " + ".join(parts or ["0"]))
    raise PricingError(f"Unknown pricing model {price.model!r}.")


def prorate(
    fee: Decimal,
    *,
    period_start: datetime.date,
    period_end: datetime.date,
    active_from: datetime.date,
    active_to: datetime.date | None,
) -> tuple[Decimal, int, int]:
    """(amount, days billed, days in period): the fee for the days of the period the
    subscription covered, both ends inclusive."""
    days_in_period = (period_end - period_start).days + 1
    start = max(period_start, active_from)
    end = min(period_end, active_to) if active_to else period_end
    days = max(0, (end - start).days + 1)
    if days == days_in_period:
        return money_round(fee), days, days_in_period
    return money_round(fee * days / days_in_period), days, days_in_period
