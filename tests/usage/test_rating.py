"""Tier and proration vectors, worked by hand."""

import datetime
from decimal import Decimal

import pytest

from usage.rating import Price, PricingError, parse_tiers, prorate, rate

D = Decimal
TIERS = parse_tiers(
    [
        {"up_to": "1000", "unit_price": "1.20"},
        {"up_to": "10000", "unit_price": "1.00"},
        {"up_to": None, "unit_price": "0.80"},
    ]
)


@pytest.mark.parametrize(
    ("model", "quantity", "included", "amount"),
    [
        ("per_unit", "1200", "0", "5400.00"),  # 1200 x 4.50
        ("per_unit", "1200", "200", "4500.00"),  # 1000 billable
        ("per_unit", "100", "200", "0.00"),  # all within the allowance
        ("graduated", "500", "0", "600.00"),  # 500 x 1.20
        ("graduated", "1000", "0", "1200.00"),  # exactly the first tier
        ("graduated", "1001", "0", "1201.00"),  # one unit into the second
        ("graduated", "12000", "0", "11800.00"),  # 1200 + 9000 + 1600
        ("graduated", "12100", "100", "11800.00"),  # the allowance comes off first
        ("volume", "500", "0", "600.00"),  # all at 1.20
        ("volume", "5000", "0", "5000.00"),  # all at 1.00
        ("volume", "10000", "0", "10000.00"),  # the bound belongs to its tier
        ("volume", "10001", "0", "8000.80"),  # all at 0.80
        ("graduated", "0.333333", "0", "0.40"),  # rounded half up to the paisa
    ],
)
def test_vectors(model, quantity, included, amount):
    price = Price(
        model,
        unit_price=D("4.50"),
        tiers=() if model == "per_unit" else TIERS,
        included=D(included),
    )
    assert rate(price, D(quantity)).amount == D(amount)


def test_the_detail_says_how_the_amount_was_reached():
    rated = rate(Price("graduated", tiers=TIERS, included=D("100")), D("12100"))
    assert rated.detail == "100 included; 1000 × ₹1.2 + 9000 × ₹1 + 2000 × ₹0.8"
    assert rated.billable == D("12000")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"up_to": "10", "unit_price": "1"}], "last tier must be open-ended"),
        ([{"up_to": None, "unit_price": "1"}, {"up_to": "5", "unit_price": "1"}], "Only the last"),
        (
            [
                {"up_to": "10", "unit_price": "1"},
                {"up_to": "5", "unit_price": "1"},
                {"up_to": None, "unit_price": "1"},
            ],
            "must increase",
        ),
        ([{"up_to": None, "unit_price": "-1"}], "cannot be negative"),
    ],
)
def test_bad_tiers_are_refused(raw, message):
    with pytest.raises(PricingError, match=message):
        parse_tiers(raw)


OCT = {"period_start": datetime.date(2026, 10, 1), "period_end": datetime.date(2026, 10, 31)}


@pytest.mark.parametrize(
    ("active_from", "active_to", "expected"),
    [
        ("2026-09-01", None, ("25000.00", 31)),  # the whole month
        ("2026-10-11", None, ("16935.48", 21)),  # 25000 x 21/31
        ("2026-09-01", "2026-10-10", ("8064.52", 10)),  # ended on the 10th
        ("2026-10-11", "2026-10-20", ("8064.52", 10)),  # both inside
        ("2026-10-31", None, ("806.45", 1)),  # the last day only
        ("2026-11-01", None, ("0.00", 0)),  # starts after the period
    ],
)
def test_proration_by_day(active_from, active_to, expected):
    amount, days, in_period = prorate(
        D("25000"),
        active_from=datetime.date.fromisoformat(active_from),
        active_to=datetime.date.fromisoformat(active_to) if active_to else None,
        **OCT,
    )
    assert (str(amount), days, in_period) == (*expected, 31)
