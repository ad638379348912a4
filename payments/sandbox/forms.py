"""The checkout page's form: how the payer pays (UPI, card, netbanking, wallet) and whether the
attempt succeeds or fails."""

import re

from django import forms
from django.utils import timezone

from payments.sandbox.models import SandboxPayment
from payments.sandbox.services import FAILURES, Payer

Method = SandboxPayment.Method

# Razorpay's bank codes and wallet names.
BANKS = [
    ("HDFC", "HDFC Bank"),
    ("ICIC", "ICICI Bank"),
    ("SBIN", "State Bank of India"),
    ("UTIB", "Axis Bank"),
    ("KKBK", "Kotak Mahindra Bank"),
    ("PUNB_R", "Punjab National Bank"),
    ("YESB", "Yes Bank"),
]
WALLETS = [
    ("paytm", "Paytm"),
    ("phonepe", "PhonePe"),
    ("amazonpay", "Amazon Pay"),
    ("mobikwik", "MobiKwik"),
    ("freecharge", "Freecharge"),
    ("airtelmoney", "Airtel Payments Bank"),
]
VPA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-_]{1,255}@[A-Za-z][A-Za-z0-9]{1,63}$")
CONTACT = re.compile(r"^\+?[0-9]{8,15}$")
EXPIRY = re.compile(r"^(0[1-9]|1[0-2])\s*/\s*(\d{2})$")


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_network(number: str) -> str:
    """The network's name as Razorpay spells it, from the card's leading digits."""
    two, four = int(number[:2]), int(number[:4])
    if number.startswith("4"):
        return "Visa"
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "MasterCard"
    if two in (34, 37):
        return "American Express"
    if two in (36, 38) or 300 <= int(number[:3]) <= 305:
        return "Diners Club"
    if two in (60, 65, 81, 82) or number.startswith("508"):
        return "RuPay"
    return "Unknown"


class CheckoutForm(forms.Form):
    method = forms.ChoiceField(
        choices=Method.choices, initial=Method.UPI, widget=forms.RadioSelect, label="Pay with"
    )
    email = forms.EmailField(label="Email")
    contact = forms.CharField(label="Phone", max_length=20)
    vpa = forms.CharField(
        label="UPI ID",
        required=False,
        max_length=100,
        initial="success@razorpay",
        widget=forms.TextInput(attrs={"placeholder": "name@bank", "autocomplete": "off"}),
    )
    card_number = forms.CharField(
        label="Card number",
        required=False,
        max_length=23,
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "cc-number",
                "placeholder": "4111 1111 1111 1111",
            }
        ),
    )
    card_expiry = forms.CharField(
        label="Expiry",
        required=False,
        max_length=7,
        widget=forms.TextInput(attrs={"placeholder": "MM/YY", "autocomplete": "cc-exp"}),
    )
    # Never shown back: a PasswordInput does not render its value on a re-displayed form.
    card_cvv = forms.CharField(
        label="CVV",
        required=False,
        max_length=4,
        widget=forms.PasswordInput(
            attrs={"inputmode": "numeric", "autocomplete": "cc-csc", "placeholder": "•••"}
        ),
    )
    card_name = forms.CharField(
        label="Name on card",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "cc-name"}),
    )
    bank = forms.ChoiceField(label="Bank", choices=BANKS, required=False, initial="HDFC")
    wallet = forms.ChoiceField(label="Wallet", choices=WALLETS, required=False, initial="paytm")
    action = forms.ChoiceField(choices=[("pay", "Pay"), ("fail", "Fail payment")])
    failure = forms.ChoiceField(
        label="Failure",
        choices=[(key, f.label) for key, f in FAILURES.items()],
        required=False,
        initial="bank_declined",
    )

    def clean_contact(self) -> str:
        contact = re.sub(r"[\s\-()]", "", self.cleaned_data["contact"])
        if not CONTACT.match(contact):
            raise forms.ValidationError("Enter a phone number of 8 to 15 digits.")
        return contact

    def clean(self) -> dict:
        data = super().clean() or {}
        method = data.get("method")
        if method == Method.UPI:
            if not VPA.match(data.get("vpa", "").strip()):
                self.add_error("vpa", "Enter a UPI ID such as name@okhdfcbank.")
        elif method == Method.CARD:
            self._clean_card(data)
        elif method == Method.NETBANKING and not data.get("bank"):
            self.add_error("bank", "Choose your bank.")
        elif method == Method.WALLET and not data.get("wallet"):
            self.add_error("wallet", "Choose a wallet.")
        if data.get("action") == "fail" and not data.get("failure"):
            self.add_error("failure", "Choose how the payment fails.")
        return data

    def _clean_card(self, data: dict) -> None:
        number = re.sub(r"[\s\-]", "", data.get("card_number", ""))
        if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_ok(number):
            self.add_error("card_number", "Enter a valid card number.")
        else:
            data["card_number"] = number
        match = EXPIRY.match(data.get("card_expiry", "").strip())
        if not match:
            self.add_error("card_expiry", "Enter the expiry as MM/YY.")
        else:
            month, year = int(match[1]), 2000 + int(match[2])
            today = timezone.localdate()
            if (year, month) < (today.year, today.month):
                self.add_error("card_expiry", "This card has expired.")
            elif year > today.year + 20:
                self.add_error("card_expiry", "Enter the expiry as MM/YY.")
        cvv_length = 4 if number.startswith(("34", "37")) else 3
        cvv = data.get("card_cvv", "")
        if not (cvv.isdigit() and len(cvv) == cvv_length):
            self.add_error("card_cvv", f"Enter the {cvv_length}-digit CVV.")

    def payer(self) -> Payer:
        """What the gateway keeps: of a card, its last four digits and network only."""
        data = self.cleaned_data
        method = data["method"]
        common = {"method": method, "email": data["email"], "contact": data["contact"]}
        if method == Method.UPI:
            return Payer(**common, vpa=data["vpa"].strip())
        if method == Method.NETBANKING:
            return Payer(**common, bank=data["bank"])
        if method == Method.WALLET:
            return Payer(**common, wallet=data["wallet"])
        number = data["card_number"]
        network = card_network(number)
        return Payer(
            **common,
            card_last4=number[-4:],
            card_network=network,
            card_type="credit" if network in ("American Express", "Diners Club") else "debit",
            card_name=data.get("card_name", "").strip(),
        )

    def failure_choice(self) -> str | None:
        return self.cleaned_data["failure"] if self.cleaned_data["action"] == "fail" else None
