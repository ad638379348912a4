from django.urls import reverse

from tenants.models import Tenant
from tests.conftest import client_for
from tests.factories import make_gstin


def profile_data(tenant: Tenant, **changes: str) -> dict[str, str]:
    data = {
        "legal_name": tenant.legal_name,
        "gstin": tenant.gstin,
        "address_line1": tenant.address_line1,
        "address_line2": tenant.address_line2,
        "city": tenant.city,
        "state": tenant.state,
        "pin_code": tenant.pin_code,
        "billing_email": tenant.billing_email,
        "finance_email": tenant.finance_email,
        "phone": tenant.phone,
    }
    return {**data, **changes}


def test_the_owner_edits_gstin_address_and_emails(owner, acme):
    new_gstin = make_gstin("29", "AAACA7412M")
    data = profile_data(
        acme,
        gstin=new_gstin,
        state="29",
        city="Bengaluru",
        pin_code="560001",
        billing_email="ap@acme.example",
        finance_email="cfo@acme.example",
    )
    response = client_for(owner).post(reverse("tenants:billing_profile", args=[acme.pk]), data)
    assert response.status_code == 302
    acme.refresh_from_db()
    assert (acme.gstin, acme.state, acme.billing_email) == (new_gstin, "29", "ap@acme.example")


def test_the_owner_cannot_change_fields_outside_the_profile(owner, acme):
    data = profile_data(acme, payment_terms_days="90", display_name="Renamed")
    client_for(owner).post(reverse("tenants:billing_profile", args=[acme.pk]), data)
    acme.refresh_from_db()
    assert (acme.payment_terms_days, acme.display_name) == (15, "Acme Cloud")


def test_a_bad_gstin_is_refused_beside_the_field_and_nothing_is_saved(owner, acme):
    before = acme.gstin
    data = profile_data(acme, gstin="27AAACA7412M1ZZ", city="Thane")
    response = client_for(owner).post(reverse("tenants:billing_profile", args=[acme.pk]), data)
    assert response.status_code == 200
    body = response.content.decode()
    assert "The check character does not match" in body
    assert 'id="id_gstin_error"' in body
    acme.refresh_from_db()
    assert (acme.gstin, acme.city) == (before, "Mumbai")


def test_members_who_are_not_owners_read_the_profile_without_a_form(viewer, member_admin, acme):
    for user in (viewer, member_admin):
        response = client_for(user).get(reverse("tenants:billing_profile", args=[acme.pk]))
        body = response.content.decode()
        assert acme.legal_name in body
        assert "Only an owner" in body
        assert 'name="gstin"' not in body


def test_the_short_link_opens_the_active_organisations_profile(owner, acme):
    response = client_for(owner).get(reverse("billing_profile"))
    assert response.url == reverse("tenants:billing_profile", args=[acme.pk])
