import re

from django.core.management import call_command
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse

from tests.conftest import client_for


def test_healthz_answers_200_with_the_database(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_answers_503_when_the_database_does_not(db, monkeypatch):
    from billing_portal import views

    class Broken:
        def __enter__(self):
            raise DatabaseError("connection refused")

        def __exit__(self, *exc):
            return False

    with monkeypatch.context() as patch:  # undone before the test database is torn down
        patch.setattr(views.connection, "cursor", lambda: Broken())
        response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unavailable"


def test_every_page_carries_a_strict_csp_and_scripts_carry_its_nonce(owner):
    response = client_for(owner).get(reverse("usage:dashboard"))
    policy = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert "script-src 'self' 'nonce-" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    body = response.content.decode()
    scripts = re.findall(r"<script[^>]*>", body)
    assert scripts
    assert all(f'nonce="{nonce}"' in tag for tag in scripts)
    assert "http://" not in body.replace("http://testserver", "")
    assert "https://" not in body


def test_the_nonce_changes_with_every_response(owner):
    client = client_for(owner)
    first = client.get(reverse("usage:dashboard")).headers["Content-Security-Policy"]
    second = client.get(reverse("usage:dashboard")).headers["Content-Security-Policy"]
    assert first != second


def test_styled_404_and_403_pages(owner, globex):
    client = client_for(owner)
    response = client.get(reverse("tenants:detail", args=[globex.pk]))
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert "portal.css" in response.content.decode()
    response = client.get(reverse("tenants:list"))
    assert response.status_code == 403
    assert "Your role cannot do that" in response.content.decode()


def test_the_500_page_renders_without_a_request_context():
    from django.template.loader import render_to_string

    html = render_to_string("500.html")
    assert "Something went wrong" in html


def test_home_sends_staff_to_tenants_and_customers_to_their_invoices(billing_admin, owner, db):
    assert client_for(billing_admin).get("/").url == reverse("tenants:list")
    assert client_for(owner).get("/").url == reverse("invoices:list")


def test_navigation_follows_the_role(billing_admin, finance, owner):
    def labels(user):
        body = client_for(user).get(reverse("invoices:list")).content.decode()
        nav = re.search(r'<nav class="mainnav".*?</nav>', body, re.S).group(0)
        return re.findall(r">([^<>]+)</a>", nav)

    assert labels(billing_admin) == [
        "Invoices",
        "Usage",
        "Payments",
        "Tenants",
        "Plans",
        "Settings",
    ]
    assert labels(finance) == ["Invoices", "Usage", "Payments", "Tenants", "Plans"]
    assert labels(owner) == ["Invoices", "Usage", "Payments", "Billing profile"]


def test_inr_filter_in_templates():
    from decimal import Decimal

    from django.template import Context, Template

    html = Template("{{ amount|inr }} {% status_badge 'overdue' %}").render(
        Context({"amount": Decimal("1234567")})
    )
    assert "₹12,34,567.00" in html
    assert 'class="badge badge-red"' in html


def test_seed_demo_is_idempotent(db, capsys):
    from django.apps import apps

    def snapshot():
        rows = {}
        for model in apps.get_models():
            if model._meta.app_label in {"tenants", "auth"}:
                rows[model._meta.label] = sorted(
                    tuple(sorted((k, str(v)) for k, v in row.items()))
                    for row in model.objects.values()
                )
        return rows

    call_command("seed_demo")
    first = snapshot()
    call_command("seed_demo")
    assert snapshot() == first
    assert len(first["tenants.Tenant"]) >= 5
    out = capsys.readouterr().out
    assert "0 new rows" in out
    for username in ("admin", "finance", "acme-owner", "acme-viewer", "globex-owner"):
        assert username in out
