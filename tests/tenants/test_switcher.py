from django.urls import reverse

from tenants.models import Membership
from tests.conftest import client_for


def test_a_member_of_two_organisations_switches_between_them(owner, acme, globex):
    Membership.objects.create(user=owner, tenant=globex, role=Membership.Role.VIEWER)
    client = client_for(owner)
    page = client.get(reverse("billing_profile"))
    assert page.url == reverse("tenants:billing_profile", args=[acme.pk])

    response = client.post(reverse("tenants:switch"), {"tenant": globex.pk, "next": "/usage/"})
    assert response.url == "/usage/"
    assert client.get(reverse("billing_profile")).url == reverse(
        "tenants:billing_profile", args=[globex.pk]
    )
    body = client.get(reverse("usage:dashboard")).content.decode()
    assert f'<option value="{globex.pk}" selected>' in body


def test_switching_to_an_organisation_one_does_not_belong_to_is_404(owner, globex):
    client = client_for(owner)
    assert client.post(reverse("tenants:switch"), {"tenant": globex.pk}).status_code == 404
    assert client.post(reverse("tenants:switch"), {"tenant": "x"}).status_code == 404


def test_an_outside_next_url_is_not_followed(owner, acme):
    response = client_for(owner).post(
        reverse("tenants:switch"), {"tenant": acme.pk, "next": "https://evil.example/"}
    )
    assert response.url == reverse("home")


def test_a_membership_removed_meanwhile_falls_back_to_another(owner, acme, globex):
    other = Membership.objects.create(user=owner, tenant=globex, role=Membership.Role.OWNER)
    client = client_for(owner)
    client.post(reverse("tenants:switch"), {"tenant": globex.pk})
    other.delete()
    assert client.get(reverse("billing_profile")).url == reverse(
        "tenants:billing_profile", args=[acme.pk]
    )
