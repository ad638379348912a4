"""GST reference data and identifiers: state codes, GSTIN and PAN validation.

State codes are the two-digit codes of the GST registry (also the first two characters of every
GSTIN). Union territories without a legislature charge UTGST in place of SGST on supplies within
the territory (UTGST Act 2017, s. 7); Delhi, Puducherry and Jammu & Kashmir have legislatures and
charge SGST.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class State:
    code: str
    name: str
    union_territory: bool = False
    # True for union territories without a legislature: their intra-territory tax is UTGST.
    utgst: bool = False


STATES: dict[str, State] = {
    s.code: s
    for s in [
        State("01", "Jammu and Kashmir", union_territory=True),
        State("02", "Himachal Pradesh"),
        State("03", "Punjab"),
        State("04", "Chandigarh", union_territory=True, utgst=True),
        State("05", "Uttarakhand"),
        State("06", "Haryana"),
        State("07", "Delhi", union_territory=True),
        State("08", "Rajasthan"),
        State("09", "Uttar Pradesh"),
        State("10", "Bihar"),
        State("11", "Sikkim"),
        State("12", "Arunachal Pradesh"),
        State("13", "Nagaland"),
        State("14", "Manipur"),
        State("15", "Mizoram"),
        State("16", "Tripura"),
        State("17", "Meghalaya"),
        State("18", "Assam"),
        State("19", "West Bengal"),
        State("20", "Jharkhand"),
        State("21", "Odisha"),
        State("22", "Chhattisgarh"),
        State("23", "Madhya Pradesh"),
        State("24", "Gujarat"),
        State(
            "26",
            "Dadra and Nagar Haveli and Daman and Diu",
            union_territory=True,
            utgst=True,
        ),
        State("27", "Maharashtra"),
        State("29", "Karnataka"),
        State("30", "Goa"),
        State("31", "Lakshadweep", union_territory=True, utgst=True),
        State("32", "Kerala"),
        State("33", "Tamil Nadu"),
        State("34", "Puducherry", union_territory=True),
        State("35", "Andaman and Nicobar Islands", union_territory=True, utgst=True),
        State("36", "Telangana"),
        State("37", "Andhra Pradesh"),
        State("38", "Ladakh", union_territory=True, utgst=True),
        State("97", "Other Territory", union_territory=True, utgst=True),
    ]
}

STATE_CHOICES = [(s.code, f"{s.name} ({s.code})") for s in STATES.values()]

_GSTIN_SHAPE = re.compile(r"^[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][1-9A-Z]Z[0-9A-Z]$")
_PAN_SHAPE = re.compile(r"^[A-Z]{5}[0-9]{4}[A-Z]$")
_IFSC_SHAPE = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")
_PIN_SHAPE = re.compile(r"^[1-9][0-9]{5}$")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def state_name(code: str) -> str:
    state = STATES.get(code)
    return state.name if state else code


def gstin_check_character(first_fourteen: str) -> str:
    """The 15th GSTIN character: a Luhn mod 36 check over the first fourteen."""
    total = 0
    for index, char in enumerate(first_fourteen):
        product = _ALPHABET.index(char) * (2 if index % 2 else 1)
        total += product // 36 + product % 36
    return _ALPHABET[(36 - total % 36) % 36]


def gstin_problem(value: str) -> str | None:
    """Why ``value`` is not a valid GSTIN, or None when it is."""
    if len(value) != 15:
        return "A GSTIN has exactly 15 characters."
    if not _GSTIN_SHAPE.match(value):
        return (
            "A GSTIN is a 2-digit state code, a 10-character PAN, an entity number, "
            "'Z' and a check character (for example 27AAPFU0939F1ZV)."
        )
    if value[:2] not in STATES:
        return f"{value[:2]} is not a GST state code."
    if gstin_check_character(value[:14]) != value[14]:
        return "The check character does not match: the GSTIN has a typing mistake."
    return None


def pan_problem(value: str) -> str | None:
    if not _PAN_SHAPE.match(value):
        return "A PAN is five letters, four digits and a letter (for example AAPFU0939F)."
    return None


def ifsc_problem(value: str) -> str | None:
    if not _IFSC_SHAPE.match(value):
        return (
            "An IFSC is four letters, a zero and six letters or digits (for example HDFC0000123)."
        )
    return None


def pin_problem(value: str) -> str | None:
    if not _PIN_SHAPE.match(value):
        return "A PIN code is six digits and does not start with 0."
    return None
