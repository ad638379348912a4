"""Every URL that takes an object answers 404 to another tenant, and each role gets what it may."""

import datetime
import re
from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from exports.models import ExportJob
from invoices import services
from tenants.models import Membership
from tests.conftest import client_for
from usage.models import Meter, Plan, PlanPrice, Subscription


def object_patterns() -> list[tuple[str, list[str]]]:
    """(url name, [kwarg names]) of every named pattern that takes an id, walked from the root."""
    found: list[tuple[str, list[str]]] = []

    def walk(patterns, namespace: str | None) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                # Django's admin, and the Razorpay sandbox: a stand-in for another company's
                # API, answering to its keys, not to our tenants (tests/payments/test_sandbox.py).
                if entry.namespace in ("admin", "sandbox"):
                    continue
                walk(entry.url_patterns, entry.namespace or namespace)
            elif isinstance(entry, URLPattern) and entry.name:
                kwargs = [k for k in entry.pattern.converters if k.endswith("_id")]
                if kwargs:
                    found.append((f"{namespace}:{entry.name}" if namespace else entry.name, kwargs))

    walk(get_resolver().url_patterns, None)
    return found


OBJECT_URLS = object_patterns()


@pytest.fixture
def acme_invoice(acme, provider, billing_admin):
    """A sent invoice of Acme's: its customers can see it, Globex's cannot."""
    invoice = services.invoice_create(
        tenant=acme,
        lines=[services.LineData("Installation", Decimal("1"), Decimal("10000"))],
        actor=billing_admin,
    )
    return services.invoice_send(invoice=invoice, actor=billing_admin)


@pytest.fixture
def acme_objects(acme, owner, viewer, acme_invoice):
    """An id for every kind of object a URL can take, all belonging to Acme."""
    plan = Plan.objects.create(code="std", name="Standard", monthly_fee=Decimal("1000"))
    subscription = Subscription.objects.create(
        tenant=acme, plan=plan, starts_on=datetime.date(2026, 1, 1)
    )
    meter = Meter.objects.get(code="vcpu_hours")
    price = PlanPrice.objects.create(plan=plan, meter=meter, unit_price=Decimal("1.20"))
    return {
        "tenant_id": acme.pk,
        "membership_id": Membership.objects.get(user=viewer).pk,
        "invoice_id": acme_invoice.pk,
        "subscription_id": subscription.pk,
        # The catalogue belongs to no tenant (STAFF_ONLY_OBJECTS); used by the role matrix.
        "meter_id": meter.pk,
        "plan_id": plan.pk,
        "price_id": price.pk,
        # An export Acme's owner asked for: only they (and staff who export) may open it.
        "job_id": ExportJob.objects.create(
            requester=owner, tenant=acme, kind="invoices", format="csv", row_count=1
        ).pk,
    }


def test_the_walk_finds_the_object_urls():
    names = {name for name, _ in OBJECT_URLS}
    assert {"tenants:detail", "tenants:member_remove", "tenants:billing_profile"} <= names


# Objects no tenant owns (the provider's own tools): a customer is refused them outright.
STAFF_ONLY_OBJECTS = {"token_id", "import_id", "meter_id", "plan_id", "price_id"}
TENANT_OBJECT_URLS = [(n, k) for n, k in OBJECT_URLS if not set(k) & STAFF_ONLY_OBJECTS]
STAFF_OBJECT_URLS = [(n, k) for n, k in OBJECT_URLS if set(k) & STAFF_ONLY_OBJECTS]


@pytest.mark.parametrize(
    ("name", "kwargs"), STAFF_OBJECT_URLS, ids=[n for n, _ in STAFF_OBJECT_URLS]
)
def test_staff_only_objects_are_refused_to_customers(name, kwargs, owner):
    from django.urls import reverse

    url = reverse(name, kwargs=dict.fromkeys(kwargs, 1))
    client = client_for(owner)
    assert client.get(url).status_code in (403, 405)
    assert client.post(url).status_code == 403


@pytest.mark.parametrize(
    ("name", "kwargs"), TENANT_OBJECT_URLS, ids=[n for n, _ in TENANT_OBJECT_URLS]
)
def test_another_tenants_objects_answer_404_to_every_method(
    name, kwargs, acme_objects, other_owner
):
    unknown = set(kwargs) - set(acme_objects)
    assert not unknown, f"add an Acme object for {unknown} to acme_objects"
    from django.urls import reverse

    url = reverse(name, kwargs={k: acme_objects[k] for k in kwargs})
    client = client_for(other_owner)
    assert client.get(url).status_code in (404, 405)
    assert client.post(
        url, {"role": "owner", "reason": "x", "email": "x@y.example"}
    ).status_code in (404, 405)
    # The same URL with an id that does not exist answers the same: foreign == missing.
    missing = re.sub(r"/\d+/", "/999999/", url, count=1)
    assert client.get(missing).status_code in (404, 405)


# (url name, method, kwargs) -> the status each role gets. 302 = redirected after success;
# 200 = the page; 403 = may see but not do; 404 = may not see.
ROLES = ["anonymous", "owner", "member_admin", "viewer", "other_owner", "billing_admin", "finance"]
MATRIX = [
    ("tenants:list", "get", {}, [302, 403, 403, 403, 403, 200, 200]),
    ("tenants:create", "get", {}, [302, 403, 403, 403, 403, 200, 403]),
    ("tenants:detail", "get", {"tenant_id"}, [302, 200, 200, 200, 404, 200, 200]),
    ("tenants:edit", "get", {"tenant_id"}, [302, 403, 403, 403, 404, 200, 403]),
    ("tenants:billing_profile", "get", {"tenant_id"}, [302, 200, 200, 200, 404, 200, 200]),
    ("tenants:billing_profile", "post", {"tenant_id"}, [302, 200, 403, 403, 404, 200, 403]),
    ("tenants:member_add", "post", {"tenant_id"}, [302, 403, 403, 403, 404, 302, 403]),
    (
        "tenants:member_role",
        "post",
        {"tenant_id", "membership_id"},
        [302, 403, 403, 403, 404, 302, 403],
    ),
    (
        "tenants:member_remove",
        "post",
        {"tenant_id", "membership_id"},
        [302, 403, 403, 403, 404, 302, 403],
    ),
    ("tenants:suspend", "post", {"tenant_id"}, [302, 403, 403, 403, 404, 302, 403]),
    ("provider_settings", "get", {}, [302, 403, 403, 403, 403, 200, 200]),
    ("provider_settings", "post", {}, [302, 403, 403, 403, 403, 200, 403]),
    ("invoices:list", "get", {}, [302, 200, 200, 200, 200, 200, 200]),
    ("invoices:detail", "get", {"invoice_id"}, [302, 200, 200, 200, 404, 200, 200]),
    ("invoices:create", "get", {}, [302, 403, 403, 403, 403, 200, 403]),
    ("invoices:edit", "get", {"invoice_id"}, [302, 403, 403, 403, 404, 302, 403]),
    ("invoices:remind", "post", {"invoice_id"}, [302, 403, 403, 403, 404, 302, 403]),
    ("invoices:void", "post", {"invoice_id"}, [302, 403, 403, 403, 404, 400, 403]),
    ("invoices:approve", "post", {"invoice_id"}, [302, 403, 403, 403, 404, 302, 403]),
    ("invoices:record_payment", "post", {"invoice_id"}, [302, 403, 403, 403, 404, 400, 400]),
    ("invoices:dispute", "post", {"invoice_id"}, [302, 302, 302, 403, 404, 403, 403]),
    ("invoices:bulk", "post", {}, [302, 403, 403, 403, 403, 200, 403]),
    # Every member exports their own organisation's invoices; staff who may export, all.
    ("invoices:export", "get", {}, [302, 200, 200, 200, 200, 200, 200]),
    ("exports:list", "get", {}, [302, 200, 200, 200, 200, 200, 200]),
    # An export job is its requester's (Acme's owner) and staff's; to anyone else it is missing.
    ("exports:detail", "get", {"job_id"}, [302, 200, 404, 404, 404, 200, 200]),
    # Every member sees their own organisation's payments and exports them; staff see all.
    ("payments:list", "get", {}, [302, 200, 200, 200, 200, 200, 200]),
    ("payments:export", "get", {}, [302, 200, 200, 200, 200, 200, 200]),
    ("tenants:charge_add", "post", {"tenant_id"}, [302, 403, 403, 403, 404, 302, 403]),
    (
        "tenants:subscription_end",
        "post",
        {"tenant_id", "subscription_id"},
        [302, 403, 403, 403, 404, 302, 403],
    ),
    ("tenants:options", "get", {}, [302, 403, 403, 403, 403, 200, 200]),
    ("usage_tokens", "get", {}, [302, 403, 403, 403, 403, 200, 403]),
    ("usage_tokens", "post", {}, [302, 403, 403, 403, 403, 200, 403]),
    ("plans:meter_list", "get", {}, [302, 403, 403, 403, 403, 200, 200]),
    ("plans:meter_create", "get", {}, [302, 403, 403, 403, 403, 200, 403]),
    ("plans:meter_create", "post", {}, [302, 403, 403, 403, 403, 200, 403]),
    ("plans:meter_edit", "get", {"meter_id"}, [302, 403, 403, 403, 403, 200, 403]),
    ("plans:meter_edit", "post", {"meter_id"}, [302, 403, 403, 403, 403, 200, 403]),
    ("plans:meter_deactivate", "post", {"meter_id"}, [302, 403, 403, 403, 403, 302, 403]),
    ("plans:plan_list", "get", {}, [302, 403, 403, 403, 403, 200, 200]),
    ("plans:plan_create", "post", {}, [302, 403, 403, 403, 403, 200, 403]),
    ("plans:plan_detail", "get", {"plan_id"}, [302, 403, 403, 403, 403, 200, 200]),
    ("plans:plan_edit", "get", {"plan_id"}, [302, 403, 403, 403, 403, 200, 403]),
    ("plans:plan_edit", "post", {"plan_id"}, [302, 403, 403, 403, 403, 200, 403]),
    ("plans:plan_deactivate", "post", {"plan_id"}, [302, 403, 403, 403, 403, 302, 403]),
    ("plans:price_add", "get", {"plan_id"}, [302, 403, 403, 403, 403, 200, 403]),
    ("plans:price_add", "post", {"plan_id"}, [302, 403, 403, 403, 403, 200, 403]),
    (
        "plans:price_edit",
        "post",
        {"plan_id", "price_id"},
        [302, 403, 403, 403, 403, 200, 403],
    ),
    (
        "plans:price_remove",
        "post",
        {"plan_id", "price_id"},
        [302, 403, 403, 403, 403, 302, 403],
    ),
]


@pytest.mark.parametrize(
    ("name", "method", "kwargs", "expected"), MATRIX, ids=[f"{m[0]}-{m[1]}" for m in MATRIX]
)
def test_role_matrix(name, method, kwargs, expected, acme_objects, request, provider):
    from django.test import Client
    from django.urls import reverse

    url = reverse(name, kwargs={k: acme_objects[k] for k in kwargs})
    data = {
        "role": "admin",
        "reason": "Unpaid since the last quarter",
        "dispute-reason": "The GPU hours look doubled this month.",
        "email": "new.person@example.com",
        "action": "send",
        "ids": [acme_objects["invoice_id"]],
    }
    for role, status in zip(ROLES, expected, strict=True):
        client = Client() if role == "anonymous" else client_for(request.getfixturevalue(role))
        response = getattr(client, method)(url, data)
        assert response.status_code == status, f"{role} {method} {url}: {response.status_code}"
