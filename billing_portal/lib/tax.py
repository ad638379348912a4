"""GST arithmetic for one invoice: discount before tax, tax per line, total rounded to the rupee.

The rules (CGST Act s. 15 and IGST Act ss. 5, 7-8; UTGST Act s. 7):

* A discount shown on the invoice reduces the taxable value; it is spread over the lines in
  proportion to their amounts, the last paisa going to the largest line, so that the lines' taxable
  values add up to the invoice's exactly.
* Tax is computed per line at that line's rate. When the supplier's state is the place of supply,
  the tax is CGST plus SGST, each at half the rate (UTGST in place of SGST in a union territory
  without a legislature); otherwise it is IGST at the full rate.
* Each component is rounded to the paisa per line and summed; the grand total is rounded to the
  rupee and the difference shown as a round-off.

Everything is Decimal; a float anywhere raises TypeError.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from billing_portal.lib.gst import STATES
from billing_portal.lib.money import money_round, rupee_round

ZERO = Decimal("0.00")
HUNDRED = Decimal("100")
DEFAULT_GST_RATE = Decimal("18.00")
DEFAULT_SAC = "998315"  # Hosting and IT infrastructure provisioning services


# Not frozen: a frozen dataclass sets each field through object.__setattr__, several times
# slower to build, and the monthly run builds one of each per line (tens of thousands).
@dataclass(slots=True)
class LineIn:
    amount: Decimal  # rupees, to the paisa; an adjustment may be negative
    rate: Decimal = DEFAULT_GST_RATE  # percent


@dataclass(slots=True)
class LineTax:
    discount: Decimal
    taxable_value: Decimal
    cgst: Decimal
    sgst: Decimal  # SGST, or UTGST where ``Totals.state_tax_name`` says so
    igst: Decimal

    @property
    def tax(self) -> Decimal:
        return self.cgst + self.sgst + self.igst


@dataclass(frozen=True)
class Totals:
    lines: tuple[LineTax, ...]
    subtotal: Decimal
    discount: Decimal
    taxable_value: Decimal
    cgst: Decimal
    sgst: Decimal
    igst: Decimal
    round_off: Decimal
    total: Decimal
    intra_state: bool
    state_tax_name: str  # "SGST" or "UTGST"

    @property
    def tax(self) -> Decimal:
        return self.cgst + self.sgst + self.igst


class TaxError(ValueError):
    """Input that cannot make a valid tax invoice (shown to the user as is)."""


def _check_decimal(name: str, value: object) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be Decimal, got {type(value).__name__}")
    return value


def is_intra_state(supplier_state: str, place_of_supply: str) -> bool:
    return supplier_state == place_of_supply


def state_tax_name(place_of_supply: str) -> str:
    state = STATES.get(place_of_supply)
    return "UTGST" if state is not None and state.utgst else "SGST"


def spread_discount(amounts: Sequence[Decimal], discount: Decimal) -> list[Decimal]:
    """Split ``discount`` over the positive amounts in proportion, exactly to the paisa."""
    base = sum((a for a in amounts if a > 0), ZERO)
    if discount == 0 or base == 0:
        return [ZERO for _ in amounts]
    shares = [money_round(discount * a / base) if a > 0 else ZERO for a in amounts]
    # Rounding each share can leave a paisa or two over or under: the largest line absorbs it.
    largest = max(range(len(amounts)), key=lambda i: amounts[i])
    shares[largest] += discount - sum(shares, ZERO)
    return shares


def compute(
    lines: Sequence[LineIn],
    *,
    discount: Decimal = ZERO,
    supplier_state: str,
    place_of_supply: str,
) -> Totals:
    for index, line in enumerate(lines):
        _check_decimal(f"line {index + 1} amount", line.amount)
        _check_decimal(f"line {index + 1} rate", line.rate)
        if line.rate < 0 or line.rate > 28:
            raise TaxError(f"Line {index + 1}: a GST rate is between 0% and 28%.")
    discount = money_round(_check_decimal("discount", discount))
    amounts = [money_round(line.amount) for line in lines]
    subtotal = sum(amounts, ZERO)
    positive = sum((a for a in amounts if a > 0), ZERO)
    if discount < 0:
        raise TaxError("A discount cannot be negative.")
    if discount > positive:
        raise TaxError("The discount is larger than the charges it applies to.")
    if subtotal - discount < 0:
        raise TaxError("Adjustments make the invoice negative: issue a credit note instead.")

    intra = is_intra_state(supplier_state, place_of_supply)
    taxed = []
    for line, amount, share in zip(lines, amounts, spread_discount(amounts, discount), strict=True):
        taxable = amount - share
        if intra:
            half = line.rate / 2 / HUNDRED
            taxed.append(
                LineTax(
                    share, taxable, money_round(taxable * half), money_round(taxable * half), ZERO
                )
            )
        else:
            igst = money_round(taxable * line.rate / HUNDRED)
            taxed.append(LineTax(share, taxable, ZERO, ZERO, igst))

    taxable_value = subtotal - discount
    cgst = sum((t.cgst for t in taxed), ZERO)
    sgst = sum((t.sgst for t in taxed), ZERO)
    igst = sum((t.igst for t in taxed), ZERO)
    grand = taxable_value + cgst + sgst + igst
    if grand < 0:
        # A credit taxed at a higher rate than the charges it offsets can turn the total negative.
        raise TaxError("Adjustments make the invoice negative: issue a credit note instead.")
    total = rupee_round(grand).quantize(Decimal("0.01"))
    return Totals(
        lines=tuple(taxed),
        subtotal=subtotal,
        discount=discount,
        taxable_value=taxable_value,
        cgst=cgst,
        sgst=sgst,
        igst=igst,
        round_off=total - grand,
        total=total,
        intra_state=intra,
        state_tax_name=state_tax_name(place_of_supply),
    )
