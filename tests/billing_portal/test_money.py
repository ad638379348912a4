from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_portal.lib.money import format_inr, group_indian, money_round, rupee_round


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("0"), "₹0.00"),
        (Decimal("999.5"), "₹999.50"),
        (Decimal("1000"), "₹1,000.00"),
        (Decimal("100000"), "₹1,00,000.00"),
        (Decimal("1234567"), "₹12,34,567.00"),
        (Decimal("123456789.015"), "₹12,34,56,789.02"),
        (Decimal("-1500"), "-₹1,500.00"),
        ("2500.5", "₹2,500.50"),
    ],
)
def test_amounts_are_shown_with_indian_digit_grouping(amount, shown):
    assert format_inr(amount) == shown


def test_none_shows_nothing_and_garbage_is_shown_as_is():
    assert format_inr(None) == ""
    assert format_inr("n/a") == "n/a"


def test_rounding_is_half_up_to_the_paisa_and_rupee():
    assert money_round(Decimal("2.345")) == Decimal("2.35")
    assert money_round(Decimal("2.344")) == Decimal("2.34")
    assert money_round(Decimal("-2.345")) == Decimal("-2.35")
    assert rupee_round(Decimal("10.50")) == Decimal("11")
    assert rupee_round(Decimal("10.49")) == Decimal("10")


def test_floats_are_refused():
    with pytest.raises(TypeError):
        money_round(1.1)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=10**15))
def test_grouping_keeps_the_digits_and_groups_two_after_the_first_three(number):
    grouped = group_indian(str(number))
    assert grouped.replace(",", "") == str(number)
    parts = grouped.split(",")
    assert len(parts[-1]) == min(3, len(str(number)))
    assert all(len(p) == 2 for p in parts[1:-1])
    assert 1 <= len(parts[0]) <= (3 if len(parts) == 1 else 2)


@pytest.mark.parametrize(
    ("value", "shown"),
    [("100", "100"), ("100.000000", "100"), ("0.500000", "0.5"), ("18.00", "18"), ("0.00", "0")],
)
def test_quantities_and_rates_show_as_typed_never_as_an_exponent(value, shown):
    from billing_portal.lib.money import plain_decimal

    assert plain_decimal(Decimal(value)) == shown
