"""Amounts in words, the Indian way: "Rupees One Lakh Twenty Thousand and Fifty Paise Only".

A GST tax invoice states its total in figures and in words (CGST Rule 46). Indian usage groups by
thousand, lakh (1,00,000) and crore (1,00,00,000); above 99 crore the crores are counted in words
themselves ("One Thousand Two Hundred Crore"), as Indian cheques and invoices write them.
"""

from decimal import Decimal

from billing_portal.lib.money import money_round

_ONES = [
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
_TENS = ["_", "_", "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety"]
# (size, name), largest first; what is left below a thousand is said in hundreds.
_GROUPS = ((10_000_000, "Crore"), (100_000, "Lakh"), (1_000, "Thousand"))


def _below_hundred(n: int) -> list[str]:
    if n < 20:
        return [_ONES[n]]
    tens, ones = divmod(n, 10)
    return [_TENS[tens] if not ones else f"{_TENS[tens]}-{_ONES[ones]}"]


def _below_thousand(n: int) -> list[str]:
    hundreds, rest = divmod(n, 100)
    words = [_ONES[hundreds], "Hundred"] if hundreds else []
    return words + (_below_hundred(rest) if rest else [])


def _words(n: int) -> list[str]:
    words: list[str] = []
    for size, name in _GROUPS:
        count, n = divmod(n, size)
        if count:
            # Only crores can reach 100 and more: those are counted in words again.
            words += (_words(count) if count >= 100 else _below_hundred(count)) + [name]
    if n:
        words += _below_thousand(n)
    return words


def number_in_words(n: int) -> str:
    """12,34,567 -> 'Twelve Lakh Thirty-Four Thousand Five Hundred Sixty-Seven'."""
    if n < 0:
        raise ValueError("a negative number has no words on an invoice")
    return " ".join(_words(n)) if n else "Zero"


def amount_in_words(amount: Decimal) -> str:
    """₹1,20,000.50 -> 'Rupees One Lakh Twenty Thousand and Fifty Paise Only'."""
    value = money_round(amount)  # the same rounding as the figures beside it
    if value < 0:
        raise ValueError("a negative amount has no words on an invoice")
    rupees = int(value)
    paise = int((value - rupees) * 100)
    text = f"Rupees {number_in_words(rupees)}"
    if paise:
        text += f" and {number_in_words(paise)} Paise"
    return f"{text} Only"
