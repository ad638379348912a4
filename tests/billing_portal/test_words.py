"""Amounts in words as a GST invoice states them (Indian system: thousand, lakh, crore)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_portal.lib.words import amount_in_words, number_in_words

VECTORS = [
    (0, "Zero"),
    (7, "Seven"),
    (15, "Fifteen"),
    (20, "Twenty"),
    (21, "Twenty-One"),
    (99, "Ninety-Nine"),
    (100, "One Hundred"),
    (101, "One Hundred One"),
    (999, "Nine Hundred Ninety-Nine"),
    (1_000, "One Thousand"),
    (1_180, "One Thousand One Hundred Eighty"),
    (10_000, "Ten Thousand"),
    (99_999, "Ninety-Nine Thousand Nine Hundred Ninety-Nine"),
    (1_00_000, "One Lakh"),
    (1_20_000, "One Lakh Twenty Thousand"),
    (12_34_567, "Twelve Lakh Thirty-Four Thousand Five Hundred Sixty-Seven"),
    (99_99_999, "Ninety-Nine Lakh Ninety-Nine Thousand Nine Hundred Ninety-Nine"),
    (1_00_00_000, "One Crore"),
    (1_00_00_001, "One Crore One"),
    (5_05_05_005, "Five Crore Five Lakh Five Thousand Five"),
    (1_00_00_00_000, "One Hundred Crore"),
    (12_34_56_78_901, "One Thousand Two Hundred Thirty-Four Crore Fifty-Six Lakh Seventy-Eight "
     "Thousand Nine Hundred One"),
]  # fmt: skip


@pytest.mark.parametrize(("number", "words"), VECTORS)
def test_numbers_read_in_the_indian_system(number, words):
    assert number_in_words(number) == words


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("0", "Rupees Zero Only"),
        ("1180.00", "Rupees One Thousand One Hundred Eighty Only"),
        ("120000", "Rupees One Lakh Twenty Thousand Only"),
        ("120000.50", "Rupees One Lakh Twenty Thousand and Fifty Paise Only"),
        ("0.01", "Rupees Zero and One Paise Only"),
        ("2599.99", "Rupees Two Thousand Five Hundred Ninety-Nine and Ninety-Nine Paise Only"),
        # Rounded half up to the paisa first, like the figure printed beside it.
        ("10.005", "Rupees Ten and One Paise Only"),
        ("10.994", "Rupees Ten and Ninety-Nine Paise Only"),
        ("99.995", "Rupees One Hundred Only"),
    ],
)
def test_amounts_read_as_rupees_and_paise(amount, words):
    assert amount_in_words(Decimal(amount)) == words


def test_negative_amounts_and_floats_are_refused():
    with pytest.raises(ValueError, match="negative"):
        amount_in_words(Decimal("-1"))
    with pytest.raises(ValueError, match="negative"):
        number_in_words(-5)
    with pytest.raises(TypeError):
        amount_in_words(1.5)  # type: ignore[arg-type]


# A reader of the words, written independently of the writer: the words must say the number.
_VALUES = {
    **{
        w: i
        for i, w in enumerate(
            [
                "Zero",
                "One",
                "Two",
                "Three",
                "Four",
                "Five",
                "Six",
                "Seven",
                "Eight",
                "Nine",
                "Ten",
                "Eleven",
                "Twelve",
                "Thirteen",
                "Fourteen",
                "Fifteen",
                "Sixteen",
                "Seventeen",
                "Eighteen",
                "Nineteen",
            ]
        )
    },
    **{
        w: 10 * i
        for i, w in enumerate(
            ["_", "_", "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety"]
        )
        if i >= 2
    },
}
_SCALES = {"Thousand": 1_000, "Lakh": 1_00_000, "Crore": 1_00_00_000}


def read_words(text: str) -> int:
    total, current = 0, 0
    for word in text.split():
        if word == "Hundred":
            current *= 100
        elif word == "Crore":
            total = (total + current) * _SCALES[word]
            current = 0
        elif word in _SCALES:
            total += current * _SCALES[word]
            current = 0
        else:
            current += sum(_VALUES[part] for part in word.split("-"))
    return total + current


@given(st.integers(min_value=0, max_value=10**13))
def test_the_words_say_the_number(n):
    assert read_words(number_in_words(n)) == n


@given(st.decimals(min_value=0, max_value=10**11, places=2, allow_nan=False))
def test_rupees_and_paise_in_words_say_the_amount(amount):
    words = amount_in_words(amount)
    assert words.startswith("Rupees ")
    assert words.endswith(" Only")
    body = words.removeprefix("Rupees ").removesuffix(" Only")
    rupees, _, paise = body.partition(" and ")
    assert read_words(rupees) == int(amount)
    expected_paise = int(amount * 100) % 100
    if expected_paise:
        assert paise.endswith(" Paise")
        assert read_words(paise.removesuffix(" Paise")) == expected_paise
    else:
        assert paise == ""


@given(st.integers(min_value=0, max_value=10**13))
def test_groups_never_exceed_their_size(n):
    """Below a crore, a lakh or thousand count is at most ninety-nine (no 'One Hundred Lakh')."""
    words = number_in_words(n).split()
    for scale in ("Lakh", "Thousand"):
        for i, word in enumerate(words):
            if word == scale:
                assert words[i - 1] != "Hundred"
