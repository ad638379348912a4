from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest

from billing_portal.lib.gst import state_name
from tenants import services
from tenants.models import Membership, ProviderProfile, Tenant


class IdentifierField(forms.CharField):
    """A tax or bank identifier: spaces dropped and upper-cased before any validation."""

    def to_python(self, value: Any) -> str:
        return str(super().to_python(value)).replace(" ", "").upper()

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        if self.max_length:
            # Room for a pasted "27 AAACA 7412M 1ZN": the length is checked without spaces.
            attrs["maxlength"] = str(self.max_length + 6)
        return attrs


class ProfileForm(forms.ModelForm):
    """Identifiers are normalised; a GSTIN must belong to the state chosen as place of supply."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        gstin, state = cleaned.get("gstin"), cleaned.get("state")
        if gstin and state and not gstin.startswith(state):
            self.add_error(
                "gstin",
                f"This GSTIN is registered in {state_name(gstin[:2])} ({gstin[:2]}), but the "
                f"state chosen is {state_name(state)} ({state}). The place of supply is the "
                "state of registration.",
            )
        return cleaned


BILLING_PROFILE_FIELDS = [
    "legal_name",
    "gstin",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "pin_code",
    "billing_email",
    "finance_email",
    "phone",
]


class TenantForm(ProfileForm):
    class Meta:
        model = Tenant
        field_classes = {"gstin": IdentifierField}
        fields = ["display_name", *BILLING_PROFILE_FIELDS, "currency", "payment_terms_days"]


class BillingProfileForm(ProfileForm):
    """What a tenant owner may change about its own organisation."""

    class Meta:
        model = Tenant
        field_classes = {"gstin": IdentifierField}
        fields = BILLING_PROFILE_FIELDS


class ProviderProfileForm(ProfileForm):
    class Meta:
        model = ProviderProfile
        field_classes = {
            name: IdentifierField for name in ("gstin", "pan", "bank_ifsc", "invoice_number_prefix")
        }
        fields = [
            "legal_name",
            "trade_name",
            "gstin",
            "pan",
            "email",
            "phone",
            "website",
            "address_line1",
            "address_line2",
            "city",
            "state",
            "pin_code",
            "bank_account_name",
            "bank_name",
            "bank_account_number",
            "bank_ifsc",
            "bank_branch",
            "invoice_number_prefix",
            "auto_approve",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        gstin, pan = cleaned.get("gstin"), cleaned.get("pan")
        if gstin and pan and gstin[2:12] != pan:
            self.add_error("pan", f"The GSTIN {gstin} belongs to PAN {gstin[2:12]}, not {pan}.")
        return cleaned


class MemberAddForm(forms.Form):
    email = forms.EmailField(help_text="Someone new gets an email invitation to set a password.")
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class StatusChangeForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "Reason (kept on the tenant's record)"}),
    )


class SuspendForm(StatusChangeForm):
    reason = forms.CharField(
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": "Reason, e.g. unpaid invoices past grace"}),
    )


class TenantSwitchForm(forms.Form):
    tenant = forms.IntegerField()


def client_address(request: HttpRequest | None) -> str:
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


class LockoutAuthenticationForm(AuthenticationForm):
    """Django's sign-in form that refuses to try once an account or address is locked out."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": (
            "Too many failed sign-in attempts. Sign-in is locked for %(minutes)s minutes; "
            "reset your password if you have forgotten it."
        ),
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        address = client_address(self.request)
        if services.login_is_locked(username=username, address=address):
            raise forms.ValidationError(
                self.error_messages["locked"],
                code="locked",
                params={"minutes": max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)},
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            services.login_failure_record(username=username, address=address)
            raise
        services.login_success_clear(username=username, address=address)
        return cleaned
