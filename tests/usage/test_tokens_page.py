from django.urls import reverse

from tests.conftest import client_for
from usage.models import IngestToken
from usage.services import token_digest


def test_billing_admin_issues_a_token_and_sees_it_once(billing_admin):
    client = client_for(billing_admin)
    response = client.post(reverse("usage_tokens"), {"name": "metering-prod"})
    raw = response.context["raw"]
    token = IngestToken.objects.get()
    assert token.token_hash == token_digest(raw)
    assert raw in response.content.decode()
    assert raw not in client.get(reverse("usage_tokens")).content.decode()  # never again


def test_a_token_needs_a_name(billing_admin):
    response = client_for(billing_admin).post(reverse("usage_tokens"), {"name": ""})
    assert "This field is required" in response.content.decode()
    assert not IngestToken.objects.exists()


def test_revoking_a_token_refuses_its_batches(billing_admin, acme):
    client = client_for(billing_admin)
    raw = client.post(reverse("usage_tokens"), {"name": "old"}).context["raw"]
    token = IngestToken.objects.get()
    client.post(reverse("usage_token_revoke", args=[token.pk]))
    response = client.post(
        "/api/v1/usage/records",
        "[]",
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 401


def test_an_unknown_token_id_is_404(billing_admin):
    assert (
        client_for(billing_admin).post(reverse("usage_token_revoke", args=[999])).status_code == 404
    )
