from django.urls import reverse

from tenants.models import ProviderProfile
from tests.conftest import client_for

DATA = {
    "legal_name": "Cirrus Cloud Services Private Limited",
    "trade_name": "Cirrus",
    "gstin": "27aahcc4821k1zj",
    "pan": "AAHCC4821K",
    "email": "billing@cirrus.example",
    "phone": "",
    "website": "",
    "address_line1": "Panchshil Tech Park",
    "address_line2": "",
    "city": "Pune",
    "state": "27",
    "pin_code": "411006",
    "bank_account_name": "Cirrus Cloud Services Private Limited",
    "bank_name": "HDFC Bank",
    "bank_account_number": "50200012345678",
    "bank_ifsc": "hdfc0000123",
    "bank_branch": "Pune",
    "invoice_number_prefix": "crs",
}


def test_billing_admin_sets_the_provider_details(billing_admin):
    response = client_for(billing_admin).post(reverse("provider_settings"), DATA)
    assert response.status_code == 302
    profile = ProviderProfile.objects.get()
    assert (profile.pk, profile.gstin, profile.bank_ifsc) == (1, "27AAHCC4821K1ZJ", "HDFC0000123")
    assert profile.invoice_number_prefix == "CRS"
    assert profile.updated_by == billing_admin


def test_a_pan_that_is_not_the_gstins_is_refused(billing_admin):
    response = client_for(billing_admin).post(
        reverse("provider_settings"), {**DATA, "pan": "AAHCC4821L"}
    )
    assert "belongs to PAN AAHCC4821K" in str(response.context["form"].errors["pan"])
    assert not ProviderProfile.objects.exists()


def test_a_prefix_that_would_overflow_sixteen_characters_is_refused(billing_admin):
    response = client_for(billing_admin).post(
        reverse("provider_settings"), {**DATA, "invoice_number_prefix": "CIRRUS"}
    )
    assert response.context["form"].errors["invoice_number_prefix"]
    assert not ProviderProfile.objects.exists()


def test_finance_reads_the_settings_in_a_disabled_form(finance, provider):
    body = client_for(finance).get(reverse("provider_settings")).content.decode()
    assert provider.legal_name in body
    assert "<fieldset disabled>" in body
    assert "Save provider details" not in body
