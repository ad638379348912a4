from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone

from billing_portal.lib.money import plain_decimal
from billing_portal.lib.tax import DEFAULT_GST_RATE, DEFAULT_SAC
from invoices.models import Invoice, InvoiceLine
from invoices.services import LineData
from payments.models import Payment
from payments.services import MANUAL_METHODS
from tenants.models import Tenant

# <input type="date"> reads and writes ISO dates whatever the page's language.
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
GST_RATES = [("0", "0%"), ("5", "5%"), ("12", "12%"), ("18", "18%"), ("28", "28%")]


def money_field(**options: Any) -> forms.DecimalField:
    """Rupees to the paisa, never negative."""
    return forms.DecimalField(max_digits=14, decimal_places=2, **options)


class InvoiceHeaderForm(forms.Form):
    tenant = forms.ModelChoiceField(
        queryset=Tenant.objects.filter(status=Tenant.Status.ACTIVE).order_by("display_name"),
        label="Customer",
    )
    due_date = forms.DateField(
        required=False,
        widget=DATE_INPUT,
        help_text="Empty: the customer's payment terms from the issue date.",
    )
    discount = money_field(
        min_value=Decimal("0"), initial=Decimal("0.00"), help_text="Rupees, before tax."
    )
    notes = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["tenant"]


class LineForm(forms.Form):
    # The stored line a row of a draft's edit form shows (empty in a new row).
    line = forms.IntegerField(required=False, widget=forms.HiddenInput)
    description = forms.CharField(max_length=300)
    kind = forms.ChoiceField(
        choices=[
            (InvoiceLine.Kind.ONE_TIME, "One-time"),
            (InvoiceLine.Kind.RECURRING, "Plan fee"),
            (InvoiceLine.Kind.USAGE, "Usage"),
            (InvoiceLine.Kind.ADJUSTMENT, "Adjustment"),
        ],
        initial=InvoiceLine.Kind.ONE_TIME,
    )
    sac_code = forms.RegexField(
        regex=r"^[0-9]{4,8}$",
        initial=DEFAULT_SAC,
        label="SAC/HSN",
        error_messages={"invalid": "A SAC or HSN code is 4 to 8 digits."},
    )
    quantity = forms.DecimalField(max_digits=20, decimal_places=6, min_value=Decimal("0.000001"))
    unit = forms.CharField(max_length=30, initial="unit")
    unit_price = forms.DecimalField(max_digits=20, decimal_places=6, label="Unit price (₹)")
    tax_rate = forms.TypedChoiceField(
        choices=GST_RATES, coerce=Decimal, initial=str(int(DEFAULT_GST_RATE)), label="GST"
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        price = cleaned.get("unit_price")
        if price is not None and price < 0 and cleaned.get("kind") != InvoiceLine.Kind.ADJUSTMENT:
            self.add_error("unit_price", "Only an adjustment line may have a negative price.")
        return cleaned

    def to_line(self) -> LineData:
        data = self.cleaned_data
        return LineData(
            description=data["description"],
            quantity=data["quantity"],
            unit_price=data["unit_price"],
            kind=data["kind"],
            unit=data["unit"],
            sac_code=data["sac_code"],
            tax_rate=Decimal(data["tax_rate"]),
            line_id=data.get("line"),
        )


class BaseLineFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if not kept:
            raise forms.ValidationError("Add at least one line.")

    def lines(self) -> list[LineData]:
        return [
            f.to_line() for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]


LineFormSet = forms.formset_factory(
    LineForm, formset=BaseLineFormSet, extra=2, can_delete=True, max_num=200, validate_max=True
)


def line_initial(invoice: Invoice) -> list[dict[str, object]]:
    return [
        {
            "line": line.pk,
            "description": line.description,
            "kind": line.kind,
            "sac_code": line.sac_code,
            "quantity": plain_decimal(line.quantity),
            "unit": line.unit,
            "unit_price": plain_decimal(line.unit_price),
            "tax_rate": str(int(line.tax_rate)),
        }
        for line in invoice.lines.all()
    ]


class SendForm(forms.Form):
    recipient = forms.ChoiceField(
        choices=[("billing", "Billing email"), ("finance", "Finance email")], initial="billing"
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=300)
    confirm = forms.BooleanField(
        label="I understand this cannot be undone",
        error_messages={"required": "Tick the box to confirm."},
    )


class PaymentForm(forms.Form):
    amount = money_field(min_value=Decimal("0.01"), label="Amount (₹)")
    method = forms.ChoiceField(
        choices=[(m, Payment.Method(m).label) for m in MANUAL_METHODS], label="Received by"
    )
    reference = forms.CharField(max_length=100, required=False, label="UTR / cheque / reference")
    received_on = forms.DateField(widget=DATE_INPUT, label="Received on")

    def clean_received_on(self) -> Any:
        day = self.cleaned_data["received_on"]
        if day > timezone.localdate():
            raise forms.ValidationError("The date received cannot be in the future.")
        return day


class PayForm(forms.Form):
    amount = money_field(
        min_value=Decimal("1.00"),
        label="Amount to pay (₹)",
        help_text="The balance due, or a part of it (at least ₹1).",
    )

    def __init__(self, *args: Any, invoice: Invoice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invoice = invoice

    def clean_amount(self) -> Decimal:
        amount: Decimal = self.cleaned_data["amount"]
        if amount > self.invoice.balance_due:
            raise forms.ValidationError(f"At most the balance due, ₹{self.invoice.balance_due}.")
        return amount


class RefundForm(forms.Form):
    payment = forms.ModelChoiceField(queryset=Payment.objects.none(), empty_label=None)
    amount = money_field(min_value=Decimal("0.01"), label="Amount (₹)")
    reason = forms.CharField(max_length=300)

    def __init__(self, *args: Any, invoice: Invoice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        payments = invoice.payments.filter(
            status=Payment.Status.CAPTURED, applied_at__isnull=False
        ).prefetch_related("refunds")
        self.fields["payment"].queryset = payments  # type: ignore[attr-defined]
        self.fields["payment"].label_from_instance = (  # type: ignore[attr-defined]
            lambda p: f"{p.get_method_display()} {p.reference or ''} · refundable ₹{p.refundable}"
        )


class DisputeForm(forms.Form):
    reason = forms.CharField(
        min_length=10,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="What is wrong with this invoice?",
    )


class ResolveForm(forms.Form):
    resolution = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class BulkForm(forms.Form):
    action = forms.ChoiceField(
        choices=[
            ("send", "Send"),
            ("void", "Void"),
            ("export_csv", "Export CSV"),
            ("export_xlsx", "Export XLSX"),
            ("download_pdfs", "Download PDFs (ZIP)"),
        ]
    )
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=[])
    reason = forms.CharField(max_length=300, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any integer is acceptable here; the view narrows the ids to what the user may touch.
        values = self.data.getlist("ids") if hasattr(self.data, "getlist") else []
        self.fields["ids"].choices = [(v, v) for v in values]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("action") == "void" and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", "Give a reason for voiding.")
        return cleaned
