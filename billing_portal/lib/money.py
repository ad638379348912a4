"""Money: Decimal only, one rounding rule, Indian digit grouping.

Every place that shows or stores an amount (pages, PDFs, exports) goes through ``money_round`` so
that the UI, the tax invoice and the spreadsheet agree to the paisa.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

PAISA = Decimal("0.01")
RUPEE = Decimal("1")


def money_round(amount: Decimal) -> Decimal:
    """Round to the paisa, half up (the convention of Indian tax invoices)."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be Decimal, got {type(amount).__name__}")
    return amount.quantize(PAISA, rounding=ROUND_HALF_UP)


def rupee_round(amount: Decimal) -> Decimal:
    """Round to the whole rupee, half up (the grand total of an invoice)."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be Decimal, got {type(amount).__name__}")
    return amount.quantize(RUPEE, rounding=ROUND_HALF_UP)


def plain_decimal(value: Decimal) -> str:
    """A quantity, price or rate as typed: no trailing zeros and never an exponent (100, not
    1E+2, which is what ``Decimal.normalize`` alone gives)."""
    text = f"{value.normalize():f}"
    return text if text != "-0" else "0"


def group_indian(digits: str) -> str:
    """'1234567' -> '12,34,567': the last three digits, then groups of two."""
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return ",".join([*groups, tail])


def format_inr(amount: Decimal | int | str | None, *, symbol: bool = True) -> str:
    """Format an amount the Indian way: ₹12,34,567.00 and -₹1,500.00."""
    if amount is None or amount == "":
        return ""
    try:
        value = money_round(Decimal(amount) if not isinstance(amount, Decimal) else amount)
    except (InvalidOperation, TypeError, ValueError):
        return str(amount)
    sign = "-" if value < 0 else ""
    whole, _, paise = f"{abs(value):.2f}".partition(".")
    return f"{sign}{'₹' if symbol else ''}{group_indian(whole)}.{paise}"
