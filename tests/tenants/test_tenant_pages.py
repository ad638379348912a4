import pytest
from django.core import mail
from django.urls import reverse

from tenants.models import Membership, Tenant
from tests.conftest import client_for
from tests.factories import make_gstin

VALID = {
    "display_name": "Initech",
    "legal_name": "Initech Labs Private Limited",
    "gstin": "",
    "address_line1": "22 Nungambakkam High Road",
    "city": "Chennai",
    "state": "33",
    "pin_code": "600034",
    "billing_email": "billing@initech.example",
    "finance_email": "",
    "phone": "",
    "currency": "INR",
    "payment_terms_days": "15",
}


def test_billing_admin_creates_an_unregistered_tenant(billing_admin):
    response = client_for(billing_admin).post(reverse("tenants:create"), VALID)
    tenant = Tenant.objects.get(display_name="Initech")
    assert response.status_code == 302
    assert response.url == reverse("tenants:detail", args=[tenant.pk])
    assert tenant.gstin == ""
    assert tenant.state == "33"
    assert tenant.status == Tenant.Status.ACTIVE


def test_a_lowercase_gstin_with_spaces_is_normalised(billing_admin):
    gstin = make_gstin("33", "AAACI1681G")
    data = {**VALID, "gstin": f" {gstin[:7].lower()} {gstin[7:]} "}
    client_for(billing_admin).post(reverse("tenants:create"), data)
    assert Tenant.objects.get(display_name="Initech").gstin == gstin


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("gstin", "33AAACI1681G1ZX", "check character does not match"),
        ("gstin", "33AAACI1681", "exactly 15 characters"),
        ("gstin", make_gstin("29", "AAACI1681G"), "registered in Karnataka (29), but the state"),
        ("pin_code", "06003", "six digits"),
        ("billing_email", "not-an-email", "valid email"),
        ("payment_terms_days", "400", "less than or equal to 180"),
        ("state", "25", "not one of the available choices"),
        ("display_name", "", "required"),
    ],
)
def test_bad_input_gets_a_message_beside_the_field_and_saves_nothing(
    billing_admin, field, value, message
):
    response = client_for(billing_admin).post(reverse("tenants:create"), {**VALID, field: value})
    assert response.status_code == 200
    errors = response.context["form"].errors[field]
    assert any(message in e for e in errors), errors
    assert f'id="id_{field}_error"' in response.content.decode() or field == "state"
    assert not Tenant.objects.filter(display_name="Initech").exists()


def test_a_second_tenant_cannot_take_a_gstin_or_a_name_already_used(billing_admin, acme):
    client = client_for(billing_admin)
    data = {**VALID, "state": "27", "gstin": acme.gstin}
    response = client.post(reverse("tenants:create"), data)
    assert "already registered with this GSTIN" in str(response.context["form"].errors)
    response = client.post(reverse("tenants:create"), {**VALID, "display_name": "ACME cloud"})
    assert "already has this display name" in str(response.context["form"].errors)
    assert Tenant.objects.count() == 1


def test_billing_admin_edits_a_tenant_profile(billing_admin, acme):
    data = {**VALID, "display_name": "Acme Cloud", "state": "27", "gstin": acme.gstin}
    data["payment_terms_days"] = "30"
    response = client_for(billing_admin).post(reverse("tenants:edit", args=[acme.pk]), data)
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.payment_terms_days == 30
    assert acme.city == "Chennai"


def test_the_list_searches_and_filters_by_status(billing_admin, acme, globex):
    globex.status = Tenant.Status.SUSPENDED
    globex.save()
    client = client_for(billing_admin)
    page = client.get(reverse("tenants:list"), {"q": "globex"}).context["page"]
    assert [t.display_name for t in page] == ["Globex Analytics"]
    page = client.get(reverse("tenants:list"), {"q": acme.gstin[:6]}).context["page"]
    assert [t.display_name for t in page] == ["Acme Cloud"]
    response = client.get(reverse("tenants:list"), {"status": "suspended"})
    assert [t.display_name for t in response.context["page"]] == ["Globex Analytics"]
    assert response.context["status_counts"] == {"all": 2, "active": 1, "suspended": 1}


def test_the_list_answers_htmx_with_the_table_only(billing_admin, acme):
    response = client_for(billing_admin).get(
        reverse("tenants:list"), {"q": "acme"}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert 'id="tenant-table"' in body
    assert "<html" not in body
    assert "Acme Cloud" in body


class TestMembers:
    def test_adding_a_new_person_invites_them_by_email(
        self, billing_admin, acme, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(billing_admin).post(
                reverse("tenants:member_add", args=[acme.pk]),
                {"email": "New.Person@Acme.example", "role": "admin"},
            )
        assert response.status_code == 302
        membership = Membership.objects.get(tenant=acme, user__email="New.Person@acme.example")
        assert membership.role == "admin"
        assert not membership.user.has_usable_password()
        [invitation] = mail.outbox
        assert invitation.to == ["New.Person@acme.example"]
        assert "Acme Cloud" in invitation.subject
        assert "/accounts/reset/" in invitation.body

    def test_adding_an_existing_person_twice_is_refused(self, billing_admin, acme, viewer):
        client = client_for(billing_admin)
        response = client.post(
            reverse("tenants:member_add", args=[acme.pk]),
            {"email": viewer.email, "role": "owner"},
            follow=True,
        )
        assert "already a member" in response.content.decode()
        assert Membership.objects.get(user=viewer).role == "viewer"

    def test_a_bad_email_is_refused_with_a_message(self, billing_admin, acme):
        response = client_for(billing_admin).post(
            reverse("tenants:member_add", args=[acme.pk]),
            {"email": "nope", "role": "admin"},
            follow=True,
        )
        assert "Enter a valid email address" in response.content.decode()
        assert not Membership.objects.filter(tenant=acme).exists()

    def test_the_last_owner_can_be_neither_removed_nor_demoted(self, billing_admin, acme, owner):
        membership = Membership.objects.get(user=owner)
        client = client_for(billing_admin)
        response = client.post(
            reverse("tenants:member_remove", args=[acme.pk, membership.pk]), follow=True
        )
        assert "at least one owner" in response.content.decode()
        client.post(
            reverse("tenants:member_role", args=[acme.pk, membership.pk]), {"role": "viewer"}
        )
        membership.refresh_from_db()
        assert membership.role == "owner"

    def test_an_owner_is_removed_once_another_owner_exists(
        self, billing_admin, acme, owner, viewer
    ):
        client = client_for(billing_admin)
        promoted = Membership.objects.get(user=viewer)
        client.post(reverse("tenants:member_role", args=[acme.pk, promoted.pk]), {"role": "owner"})
        first = Membership.objects.get(user=owner)
        client.post(reverse("tenants:member_remove", args=[acme.pk, first.pk]))
        assert list(Membership.objects.filter(tenant=acme).values_list("role", flat=True)) == [
            "owner"
        ]

    def test_a_membership_of_another_tenant_cannot_be_reached_through_this_one(
        self, billing_admin, acme, globex, other_owner
    ):
        foreign = Membership.objects.get(user=other_owner)
        response = client_for(billing_admin).post(
            reverse("tenants:member_remove", args=[acme.pk, foreign.pk])
        )
        assert response.status_code == 404
        assert Membership.objects.filter(pk=foreign.pk).exists()


class TestSuspension:
    def test_suspend_needs_a_reason_and_reactivate_restores(self, billing_admin, acme):
        client = client_for(billing_admin)
        response = client.post(
            reverse("tenants:suspend", args=[acme.pk]), {"reason": ""}, follow=True
        )
        assert "Give a reason" in response.content.decode()
        acme.refresh_from_db()
        assert acme.status == "active"

        client.post(reverse("tenants:suspend", args=[acme.pk]), {"reason": "Unpaid since May"})
        acme.refresh_from_db()
        assert (acme.status, acme.status_reason) == ("suspended", "Unpaid since May")
        assert acme.status_changed_at is not None

        response = client.post(
            reverse("tenants:suspend", args=[acme.pk]), {"reason": "again"}, follow=True
        )
        assert "already suspended" in response.content.decode()

        client.post(reverse("tenants:reactivate", args=[acme.pk]), {"reason": ""})
        acme.refresh_from_db()
        assert acme.status == "active"

    def test_finance_sees_no_suspend_button_and_cannot_post_one(self, finance, acme):
        client = client_for(finance)
        assert (
            "Suspend</button>"
            not in client.get(reverse("tenants:detail", args=[acme.pk])).content.decode()
        )
        assert (
            client.post(reverse("tenants:suspend", args=[acme.pk]), {"reason": "x"}).status_code
            == 403
        )
        acme.refresh_from_db()
        assert acme.status == "active"
