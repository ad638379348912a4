"""The base fixture set every endpoint test uses (after healthchecks' alice, bob and charlie).

* ``acme``: a tenant with ``owner``, ``member_admin`` (role admin) and ``viewer``;
* ``globex``: another tenant with its own ``other_owner``, whose objects the Acme people must
  never reach (404) and who must never reach Acme's;
* ``billing_admin`` and ``finance``: platform staff in the groups the migration creates.
"""

import pytest
from django.core.cache import cache
from django.test import Client

from tenants.models import Membership
from tests.factories import (
    BILLING_ADMIN,
    FINANCE,
    MembershipFactory,
    ProviderProfileFactory,
    TenantFactory,
    UserFactory,
    make_gstin,
)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` (row locks, COPY) run wherever PostgreSQL is the database."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _clean_cache():
    # The lockout counters live in the cache, which is Redis when REDIS_URL is set.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # PBKDF2's work factor is the point in production and minutes of waiting in a test run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


DATA_MIGRATIONS = [
    ("tenants.migrations.0002_staff_groups", "create_groups"),
    ("invoices.migrations.0002_staff_permissions", "forwards"),
    ("usage.migrations.0002_meters_and_permissions", "forwards"),
    ("usage.migrations.0004_meter_add_permission", "forwards"),
]


@pytest.fixture
def migrated_rows(db):
    """Put back the rows data migrations create (staff groups, permissions, meters).

    A transactional test ends by flushing every table, and pytest-django runs those tests last:
    one that needs these rows asks for this fixture, which re-runs the migrations' own code.
    """
    import importlib

    from django.apps import apps

    for module, function in DATA_MIGRATIONS:
        getattr(importlib.import_module(module), function)(apps, None)


@pytest.fixture
def plan(db):
    """The Standard plan: ₹25,000 a month; vCPU ₹1.20/h; egress graduated after 100 GB free
    (₹4.50 up to 1,000 GB, then ₹3.00); GPU ₹180/h for A100, ₹90/h for other types."""
    from decimal import Decimal as D

    from usage.models import Meter, Plan, PlanPrice

    plan = Plan.objects.create(code="standard", name="Standard", monthly_fee=D("25000"))
    meters = {m.code: m for m in Meter.objects.all()}
    PlanPrice.objects.create(plan=plan, meter=meters["vcpu_hours"], unit_price=D("1.20"))
    PlanPrice.objects.create(
        plan=plan,
        meter=meters["egress_gb"],
        model="graduated",
        tiers=[{"up_to": "1000", "unit_price": "4.50"}, {"up_to": None, "unit_price": "3.00"}],
        included_quantity=D("100"),
    )
    PlanPrice.objects.create(
        plan=plan, meter=meters["gpu_hours"], dimension_value="A100", unit_price=D("180")
    )
    PlanPrice.objects.create(plan=plan, meter=meters["gpu_hours"], unit_price=D("90"))
    return plan


@pytest.fixture
def provider(db):
    return ProviderProfileFactory()


@pytest.fixture
def acme(db):
    return TenantFactory(
        display_name="Acme Cloud",
        state="27",
        gstin=make_gstin("27", "AAACA7412M"),
        city="Mumbai",
        pin_code="400051",
    )


@pytest.fixture
def globex(db):
    return TenantFactory(display_name="Globex Analytics", gstin=make_gstin("29", "AAGFG5678H"))


@pytest.fixture
def owner(acme):
    return MembershipFactory(tenant=acme, role=Membership.Role.OWNER, user__username="alice").user


@pytest.fixture
def member_admin(acme):
    return MembershipFactory(tenant=acme, role=Membership.Role.ADMIN, user__username="amir").user


@pytest.fixture
def viewer(acme):
    return MembershipFactory(tenant=acme, role=Membership.Role.VIEWER, user__username="bob").user


@pytest.fixture
def other_owner(globex):
    return MembershipFactory(
        tenant=globex, role=Membership.Role.OWNER, user__username="charlie"
    ).user


@pytest.fixture
def billing_admin(db):
    return UserFactory(username="asha", staff_group=BILLING_ADMIN)


@pytest.fixture
def finance(db):
    return UserFactory(username="farhan", staff_group=FINANCE)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def as_user():
    return client_for
