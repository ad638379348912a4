import pytest

from billing_portal.lib.gst import (
    STATES,
    gstin_check_character,
    gstin_problem,
    ifsc_problem,
    pan_problem,
    pin_problem,
)

# Published GSTINs of real registrations (their check characters are known to be right).
REAL_GSTINS = ["27AAPFU0939F1ZV", "29AAGCB7383J1Z4", "07AAACI1681G1ZR", "33AAACH7409R1Z8"]


@pytest.mark.parametrize("gstin", REAL_GSTINS)
def test_real_gstins_are_accepted(gstin):
    assert gstin_problem(gstin) is None


def test_a_ladakh_gstin_is_accepted():
    first = "38AAJCH4410L1Z"
    assert gstin_problem(first + gstin_check_character(first)) is None
    assert STATES["38"].name == "Ladakh"
    assert STATES["38"].utgst


@pytest.mark.parametrize(
    ("gstin", "why"),
    [
        ("27AAPFU0939F1Z", "exactly 15"),
        ("27AAPFU0939F1ZVX", "exactly 15"),
        ("27aapfu0939f1zv", "state code, a 10-character PAN"),
        ("2XAAPFU0939F1ZV", "state code, a 10-character PAN"),
        ("27AAPFU0939F1AV", "state code, a 10-character PAN"),  # 14th must be Z
        ("27AAPFU0939F0ZV", "state code, a 10-character PAN"),  # entity 0 is not issued
        ("99AAPFU0939F1ZV", "not a GST state code"),
        ("25AAPFU0939F1ZV", "not a GST state code"),  # Daman and Diu merged into 26 in 2020
        ("27AAPFU0939F1ZW", "check character"),
    ],
)
def test_malformed_gstins_say_why(gstin, why):
    assert why in gstin_problem(gstin)


def test_every_single_character_typo_in_a_gstin_is_caught():
    # A mod-36 Luhn check catches every substitution of one character.
    gstin = REAL_GSTINS[0]
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for index in range(15):
        for char in alphabet:
            if char != gstin[index]:
                typo = gstin[:index] + char + gstin[index + 1 :]
                assert gstin_problem(typo) is not None, typo


def test_union_territories_without_legislature_charge_utgst():
    assert {code for code, s in STATES.items() if s.utgst} == {"04", "26", "31", "35", "38", "97"}
    assert not STATES["07"].utgst  # Delhi has a legislature: SGST
    assert not STATES["34"].utgst  # Puducherry too


def test_pan_ifsc_and_pin_shapes():
    assert pan_problem("AAPFU0939F") is None
    assert pan_problem("AAPFU0939") is not None
    assert ifsc_problem("HDFC0000123") is None
    assert ifsc_problem("HDFC1000123") is not None
    assert pin_problem("411006") is None
    assert pin_problem("011006") is not None
    assert pin_problem("41100") is not None
