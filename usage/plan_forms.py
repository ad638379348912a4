"""Forms of the meter and plan pages. Shapes are checked here; the rules that depend on stored
state (records for a meter, a price already on the plan) are the services' (usage.catalogue)."""

from decimal import Decimal
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError

from billing_portal.lib.tax import DEFAULT_SAC
from invoices.forms import GST_RATES, money_field
from tenants.models import Tenant
from usage import catalogue
from usage.models import Meter, Plan, PlanPrice, Pricing
from usage.rating import Tier, parse_tiers


def validate_sac(value: str) -> None:
    problem = catalogue.sac_problem(value)
    if problem:
        raise ValidationError(problem)


def precise(**options: Any) -> forms.DecimalField:
    """Quantities and unit prices, to six places (the fields' NUMERIC(20,6))."""
    return forms.DecimalField(max_digits=20, decimal_places=6, **options)


def _text(value: Decimal) -> str:
    """A stored Decimal as a person would type it: 1000, 4.5."""
    return f"{value.normalize():f}"


class MeterForm(forms.Form):
    code = forms.SlugField(
        max_length=40,
        help_text="Metering systems and import files send usage under this code, "
        "e.g. “vcpu_hours”.",
    )
    name = forms.CharField(max_length=100, help_text="Printed on invoice lines.")
    unit = forms.CharField(max_length=30, help_text="One unit of quantity, e.g. “GB-month”.")
    category = forms.ChoiceField(choices=Meter.Category.choices)
    sac_code = forms.CharField(
        max_length=8,
        label="SAC",
        initial=DEFAULT_SAC,
        validators=[validate_sac],
        help_text="Invoice lines generated from now on carry it. 998315: hosting and IT "
        "infrastructure.",
    )
    dimension = forms.SlugField(
        max_length=40,
        required=False,
        help_text="Optional: the record field that splits prices and invoice lines, "
        "e.g. “gpu_type”.",
    )

    def __init__(self, *args: Any, locked: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if locked:
            # Shown read-only; the service refuses a changed value with the reason.
            for name in ("code", "dimension"):
                field = self.fields[name]
                field.widget.attrs["readonly"] = True
                field.help_text = "Fixed: usage records already use this meter. Add a new one."

    @staticmethod
    def initial_for(meter: Meter) -> dict[str, object]:
        return {name: getattr(meter, name) for name in MeterForm.base_fields}


class PlanForm(forms.Form):
    code = forms.SlugField(max_length=40, help_text="A short identifier, e.g. “standard”.")
    name = forms.CharField(max_length=100, help_text="Printed on the monthly fee's invoice line.")
    currency = forms.ChoiceField(choices=Tenant.Currency.choices, initial=Tenant.Currency.INR)
    monthly_fee = money_field(
        min_value=Decimal("0"),
        label="Monthly fee (₹)",
        help_text="Before GST; prorated by day when a subscription starts or ends mid-month.",
    )
    tax_rate = forms.TypedChoiceField(
        choices=GST_RATES, coerce=Decimal, initial="18", label="GST on the fee"
    )

    @staticmethod
    def initial_for(plan: Plan) -> dict[str, object]:
        return {
            "code": plan.code,
            "name": plan.name,
            "currency": plan.currency,
            "monthly_fee": plan.monthly_fee,
            "tax_rate": str(int(plan.tax_rate)),
        }


class PriceForm(forms.Form):
    meter = forms.ModelChoiceField(queryset=Meter.objects.filter(active=True))
    dimension_value = forms.CharField(
        max_length=60,
        required=False,
        label="Dimension value",
        help_text="Only for a meter with a dimension (GPU type: e.g. “A100”). Empty: every "
        "value that has no price of its own.",
    )
    model = forms.ChoiceField(choices=Pricing.Model.choices, label="Pricing")
    unit_price = precise(
        required=False,
        min_value=Decimal("0"),
        label="Unit price (₹)",
        help_text="Per-unit pricing only; tiered pricing takes its prices from the tiers.",
    )
    included_quantity = precise(
        min_value=Decimal("0"),
        initial=Decimal("0"),
        label="Included free quantity",
        help_text="Taken off each month's quantity before it is priced.",
    )

    def __init__(self, *args: Any, price: PlanPrice | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if price is not None:
            # A price is identified by its meter and dimension value: to move it, remove and add.
            del self.fields["meter"]
            del self.fields["dimension_value"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        per_unit = cleaned.get("model") == Pricing.Model.PER_UNIT
        # A price that did not parse already has its message.
        if per_unit and cleaned.get("unit_price") is None and "unit_price" not in self.errors:
            self.add_error("unit_price", "Enter the price per unit.")
        return cleaned


class TierForm(forms.Form):
    # The page explains the rows once, above them, rather than a help text per cell.
    up_to = precise(required=False, label="Up to (units)")
    unit_price = precise(required=False, label="Unit price (₹)")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        bounded = cleaned.get("up_to") is not None
        if bounded and cleaned.get("unit_price") is None and "unit_price" not in self.errors:
            self.add_error("unit_price", "Enter this tier's unit price.")
        return cleaned

    def tier(self) -> Tier | None:
        """The row as a tier; None for a row left empty."""
        data = getattr(self, "cleaned_data", None) or {}
        if data.get("unit_price") is None:
            return None
        return Tier(data.get("up_to"), data["unit_price"])


class BaseTierFormSet(forms.BaseFormSet):
    """Rows of "up to / unit price"; empty rows are ignored. Checked only for tiered pricing,
    by ``catalogue.tiers_problem`` (ascending bounds, prices not negative, the last open)."""

    pricing_model: str | None = None  # set before validation: per-unit pricing ignores the rows

    def tiers(self) -> list[Tier]:
        return [tier for form in self.forms if (tier := form.tier()) is not None]

    def clean(self) -> None:
        if any(self.errors) or self.pricing_model is None:
            return
        problem = catalogue.tiers_problem(self.pricing_model, self.tiers())
        if problem:
            raise ValidationError(problem)


TierFormSet = forms.formset_factory(
    TierForm, formset=BaseTierFormSet, extra=3, max_num=20, validate_max=True
)


class PriceEditor:
    """A price's form and its tier rows, validated together."""

    def __init__(self, data: Any = None, *, price: PlanPrice | None = None) -> None:
        initial: dict[str, object] = {}
        tiers: list[dict[str, object]] = []
        if price is not None:
            initial = {
                "model": price.model,
                "unit_price": _text(price.unit_price)
                if price.model not in catalogue.TIERED
                else "",
                "included_quantity": _text(price.included_quantity),
            }
            tiers = [
                {
                    "up_to": None if tier.up_to is None else _text(tier.up_to),
                    "unit_price": _text(tier.unit_price),
                }
                for tier in parse_tiers(price.tiers)
            ]
        self.form = PriceForm(data, price=price, initial=initial)
        self.tier_rows = cast(BaseTierFormSet, TierFormSet(data, prefix="tiers", initial=tiers))
        self.service_errors: list[str] = []
        self.rows_checked = False  # per-unit pricing neither checks nor saves the rows

    def is_valid(self) -> bool:
        form_ok = self.form.is_valid()
        model = self.form.cleaned_data.get("model")
        if model == Pricing.Model.PER_UNIT:
            return form_ok  # the tier rows are not used, and not saved
        self.tier_rows.pricing_model = model
        self.rows_checked = True
        rows_ok = self.tier_rows.is_valid()
        return form_ok and rows_ok

    def pricing(self) -> dict[str, Any]:
        data = self.form.cleaned_data
        return {
            "model": data["model"],
            "unit_price": data["unit_price"],
            "included_quantity": data["included_quantity"],
            "tiers": self.tier_rows.tiers(),
        }

    def add_service_error(self, error: ValidationError) -> None:
        """Show a service's refusal beside its field; tier problems go above the rows."""
        if hasattr(error, "error_dict"):
            for tier_error in error.error_dict.pop("tiers", []):
                self.service_errors.extend(tier_error.messages)
            if not error.error_dict:
                return
        add_service_error(self.form, error)

    @property
    def tier_errors(self) -> list[str]:
        checked = list(self.tier_rows.non_form_errors()) if self.rows_checked else []
        return [*map(str, checked), *self.service_errors]


class QuantityForm(forms.Form):
    quantity = precise(min_value=Decimal("0"), label="Quantity in a month")


def add_service_error(form: forms.Form, error: ValidationError) -> None:
    """A service's refusal beside the field it names (or above the form)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)
