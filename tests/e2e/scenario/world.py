"""The provider's world for the month-in-the-life scenario: its staff, five customers in different
GST situations on one plan, an ingest token, and a month of usage as their metering sends it.

Everything here is written with the ORM before the processes start (a provider's set-up, not the
month under test); the month itself goes through HTTP, Celery and the browser.
"""

import datetime
import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group, User

from invoices.generation import IST, Period
from tenants.models import Membership, Tenant
from tenants.roles import BILLING_ADMIN, FINANCE
from tests.factories import ProviderProfileFactory, TenantFactory, make_gstin
from usage.models import Meter, Plan, PlanPrice, Subscription
from usage.services import ingest_token_create

D = Decimal
PASSWORD = "demo"  # as the demo's logins


@dataclass(frozen=True)
class Customer:
    name: str
    state: str
    city: str
    pin_code: str
    pan: str  # "" for a customer not registered for GST
    terms: int  # payment terms, days
    scale: Decimal  # how much it uses
    gpu: bool = False
    owner: str = ""  # the username of its owner, when someone signs in for it
    suspended: bool = False  # suspended by a billing admin before the month began

    @property
    def slug(self) -> str:
        return self.name.split()[0].lower()


# The provider is in Maharashtra (27): Acme pays CGST + SGST, everyone else IGST.
ACME = Customer(
    "Acme Cloud", "27", "Mumbai", "400051", "AAACA7412M", 30, D("1.4"), True, "acme-owner"
)
GLOBEX = Customer(
    "Globex Analytics",
    "29",
    "Bengaluru",
    "560001",
    "AAGFG5678H",
    30,
    D("2.1"),
    True,
    "globex-owner",
)
HOOLI = Customer("Hooli Himalaya", "38", "Leh", "194101", "AAFCH2345K", 30, D("0.6"))  # a UT
# Not registered for GST, and short terms: it pays nothing and falls overdue.
INITECH = Customer("Initech Labs", "33", "Chennai", "600001", "", 3, D("0.5"))
STARK = Customer(
    "Stark Compute", "07", "New Delhi", "110001", "AAHCS9012P", 30, D("1.0"), suspended=True
)
CUSTOMERS = (ACME, GLOBEX, HOOLI, INITECH, STARK)


def _password_hash() -> str:
    # The real hasher with few iterations: gunicorn checks it as it would any PBKDF2 hash (and
    # upgrades it on sign-in), while the test process does not spend seconds making four.
    return PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt(), iterations=1000)


def _user(username: str, first: str, last: str, email: str, group: str = "") -> User:
    user = User.objects.create(
        username=username, first_name=first, last_name=last, email=email, password=_password_hash()
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@dataclass
class World:
    tenants: dict[str, Tenant]  # by customer name
    admin: User
    finance: User
    plan: Plan
    token: str  # the raw bearer token of the metering system


def build_world(month: Period) -> World:
    ProviderProfileFactory()
    admin = _user("admin", "Asha", "Kulkarni", "asha@cirrus.example", BILLING_ADMIN)
    finance = _user("finance", "Farhan", "Qureshi", "farhan@cirrus.example", FINANCE)
    plan = _plan()
    tenants = {}
    for customer in CUSTOMERS:
        tenant = TenantFactory(
            display_name=customer.name,
            state=customer.state,
            city=customer.city,
            pin_code=customer.pin_code,
            gstin=make_gstin(customer.state, customer.pan) if customer.pan else "",
            payment_terms_days=customer.terms,
            billing_email=f"accounts@{customer.slug}.example",
            finance_email=f"finance@{customer.slug}.example",
            status=Tenant.Status.SUSPENDED if customer.suspended else Tenant.Status.ACTIVE,
            status_reason="Suspended by a billing admin" if customer.suspended else "",
        )
        Subscription.objects.create(
            tenant=tenant, plan=plan, starts_on=month.start - datetime.timedelta(days=90)
        )
        if customer.owner:
            owner = _user(
                customer.owner,
                customer.slug.title(),
                "Owner",
                f"{customer.owner}@{customer.slug}.example",
            )
            Membership.objects.create(user=owner, tenant=tenant, role=Membership.Role.OWNER)
        tenants[customer.name] = tenant
    _, token = ingest_token_create(name="metering (scenario)", actor=admin)
    return World(tenants=tenants, admin=admin, finance=finance, plan=plan, token=token)


def _plan() -> Plan:
    plan = Plan.objects.create(code="standard", name="Standard", monthly_fee=D("25000"))
    meters = {m.code: m for m in Meter.objects.all()}
    PlanPrice.objects.create(plan=plan, meter=meters["vcpu_hours"], unit_price=D("1.20"))
    PlanPrice.objects.create(plan=plan, meter=meters["ram_gb_hours"], unit_price=D("0.16"))
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
    return plan


# --- A month of usage -----------------------------------------------------------------------

# What each customer runs: (meter, resource, quantity a day at scale 1).
RESOURCES = (
    ("vcpu_hours", "vm-app", D("48")),
    ("vcpu_hours", "vm-db", D("96")),
    ("ram_gb_hours", "vm-app", D("192")),
    ("egress_gb", "lb-edge", D("41.25")),
)
GPU = ("gpu_hours", "gpu-train", D("1.6"))
Key = tuple[str, str, str]  # (customer name, meter code, dimension value): one invoice line


@dataclass
class Usage:
    """The records a customer's metering sends, and what they must add up to."""

    records: list[dict[str, object]] = field(default_factory=list)

    def totals(self) -> Counter[Key]:
        totals: Counter[Key] = Counter()
        for record in self.records:
            dimensions = record.get("dimensions") or {}
            assert isinstance(dimensions, dict)
            key = (str(record["customer"]), str(record["meter"]), dimensions.get("gpu_type", ""))
            totals[key] += Decimal(str(record["quantity"]))
        return totals


def _record(
    customer: Customer, tenant: Tenant, meter: str, resource: str, day: datetime.date, qty: Decimal
) -> dict[str, object]:
    start = datetime.datetime.combine(day, datetime.time(), IST)
    record: dict[str, object] = {
        "customer": customer.name,  # the scenario's bookkeeping; left out of what is posted
        "tenant_id": tenant.pk,
        "meter": meter,
        "resource_id": f"{resource}-{customer.slug}",
        "resource_name": resource,
        "region": "ap-south-1",
        "quantity": str(qty),
        "window_start": start.isoformat(),
        "window_end": (start + datetime.timedelta(days=1)).isoformat(),
        "idempotency_key": f"{customer.slug}-{meter}-{resource}-{day.isoformat()}",
    }
    if meter == "gpu_hours":
        record["dimensions"] = {"gpu_type": "A100"}
    return record


def days_of(month: Period) -> Iterator[datetime.date]:
    day = month.start
    while day <= month.end:
        yield day
        day += datetime.timedelta(days=1)


def month_of_usage(customer: Customer, tenant: Tenant, month: Period) -> Usage:
    """A record per resource per day, varying by weekday, with three decimal places at most."""
    usage = Usage()
    resources = RESOURCES + ((GPU,) if customer.gpu else ())
    for day in days_of(month):
        weekday = D("0.75") if day.weekday() >= 5 else D("1") + D(day.day % 4) / 100
        for meter, resource, daily in resources:
            quantity = (daily * customer.scale * weekday).quantize(D("0.001"))
            usage.records.append(_record(customer, tenant, meter, resource, day, quantity))
    return usage


def late_usage(customer: Customer, tenant: Tenant, month: Period) -> Usage:
    """A VM the metering forgot, sent after the month's run: its last three days."""
    usage = Usage()
    for day in list(days_of(month))[-3:]:
        usage.records.append(_record(customer, tenant, "vcpu_hours", "vm-batch", day, D("23.5")))
    return usage


def weekly_batches(records: list[dict[str, object]]) -> list[list[dict[str, object]]]:
    """As a metering agent sends them: a batch a week."""
    batches = []
    by_week = itertools.groupby(records, key=lambda r: (int(str(r["window_start"])[8:10]) - 1) // 7)
    for _, batch in by_week:
        batches.append(list(batch))
    return batches
