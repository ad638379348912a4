"""Demo usage and invoices: plans with tiers, three months of metered usage for every demo
tenant, one-time charges, and the months' invoices built by the real monthly run, in every status.

The services issue invoices today; to show a history, the demo moves each invoice's dates back to
the month it stands for, after the services did the real work (numbering in date order, taxes,
payments, the timeline). Real invoices are never backdated.
"""

import datetime
import json
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from invoices import generation, services
from invoices.models import Invoice, InvoiceEvent
from payments import services as payment_services
from tenants.models import Tenant
from usage import ingest
from usage.models import (
    Meter,
    OneTimeCharge,
    Plan,
    PlanPrice,
    PriceOverride,
    Subscription,
    UsageRecord,
)

D = Decimal


# Daily usage per tenant: (meter, resource, quantity a day, GPU type or "").
USAGE_SHAPE = [
    ("vcpu_hours", "vm-web-01", D("48"), ""),
    ("vcpu_hours", "vm-db-01", D("96"), ""),
    ("ram_gb_hours", "vm-web-01", D("192"), ""),
    ("ram_gb_hours", "vm-db-01", D("768"), ""),
    ("block_storage_gb_months", "vol-db-01", D("16.5"), ""),
    ("object_storage_gb_months", "bucket-backups", D("8"), ""),
    ("ingress_gb", "lb-edge-01", D("30"), ""),
    ("egress_gb", "lb-edge-01", D("42"), ""),
    ("gpu_hours", "gpu-train-01", D("1.6"), "A100"),
    ("gpu_hours", "gpu-infer-01", D("4"), "T4"),
]
SCALES = {
    "Acme Cloud": D("1.4"),
    "Acme Retail": D("0.3"),
    "Globex Analytics": D("2.1"),
    "Initech Labs": D("0.5"),
    "Umbrella Biotech": D("0.8"),
    "Hooli Himalaya": D("0.6"),
    "Stark Compute": D("1.0"),
}


def _plans() -> dict[str, Plan]:
    meters = {m.code: m for m in Meter.objects.all()}
    standard = Plan.objects.create(code="standard", name="Standard", monthly_fee=D("25000"))
    enterprise = Plan.objects.create(code="enterprise", name="Enterprise", monthly_fee=D("75000"))
    graduated_egress = [
        {"up_to": "1000", "unit_price": "4.50"},
        {"up_to": None, "unit_price": "3.00"},
    ]
    volume_vcpu = [
        {"up_to": "5000", "unit_price": "1.10"},
        {"up_to": "20000", "unit_price": "0.95"},
        {"up_to": None, "unit_price": "0.85"},
    ]
    for plan, vcpu in (
        (standard, {"unit_price": D("1.20")}),
        (enterprise, {"model": "volume", "tiers": volume_vcpu}),
    ):
        rows = [
            ("vcpu_hours", "", vcpu),
            ("ram_gb_hours", "", {"unit_price": D("0.16")}),
            ("block_storage_gb_months", "", {"unit_price": D("6.00")}),
            (
                "object_storage_gb_months",
                "",
                {"unit_price": D("2.00"), "included_quantity": D("100")},
            ),
            ("ingress_gb", "", {"unit_price": D("0")}),
            (
                "egress_gb",
                "",
                {"model": "graduated", "tiers": graduated_egress, "included_quantity": D("100")},
            ),
            ("gpu_hours", "A100", {"unit_price": D("180")}),
            ("gpu_hours", "T4", {"unit_price": D("45")}),
            ("gpu_hours", "", {"unit_price": D("90")}),
        ]
        for code, dimension, pricing in rows:
            PlanPrice.objects.create(
                plan=plan, meter=meters[code], dimension_value=dimension, **pricing
            )
    return {"standard": standard, "enterprise": enterprise}


def _seed_usage(tenant: Tenant, scale: Decimal, first: datetime.date, last: datetime.date) -> int:
    """A record per resource per day from ``first`` to ``last``, stored as the API stores them."""
    meters = {m.code: m for m in Meter.objects.all()}
    rows = []
    day = first
    while day <= last:
        start = datetime.datetime.combine(day, datetime.time(), generation.IST)
        # A little variation by weekday, so the chart is not a flat line.
        weekday = D("0.75") if day.weekday() >= 5 else D("1")
        for code, resource, quantity, gpu in USAGE_SHAPE:
            rows.append(
                ingest.Row(
                    tenant_id=tenant.pk,
                    meter_id=meters[code].pk,
                    resource_id=f"{resource}-{tenant.pk}",
                    resource_name=resource,
                    region="ap-south-1",
                    dimension_value=gpu,
                    dimensions=json.dumps({"gpu_type": gpu} if gpu else {}),
                    quantity=(quantity * scale * weekday).quantize(D("0.001")),
                    window_start=start,
                    window_end=start + datetime.timedelta(days=1),
                    idempotency_key=f"demo-{tenant.pk}-{code}-{resource}-{day.isoformat()}",
                )
            )
        day += datetime.timedelta(days=1)
    stored = 0
    for index in range(0, len(rows), ingest.INSERT_CHUNK):
        stored += ingest.insert_records(rows[index : index + ingest.INSERT_CHUNK], source="demo")
    # Each day's record arrived when its window closed, as a metering agent sends it.
    UsageRecord.objects.filter(tenant=tenant, source="demo").update(received_at=F("window_end"))
    return stored


def _month(year: int, month: int) -> tuple[datetime.date, datetime.date]:
    start = datetime.date(year, month, 1)
    nxt = datetime.date(year + (month == 12), month % 12 + 1, 1)
    return start, nxt - datetime.timedelta(days=1)


def _backdate(invoice: Invoice, issued: datetime.date) -> None:
    """Move an issued invoice's dates (and its timeline) back to ``issued``."""
    shift = timezone.localdate() - issued
    invoice = Invoice.objects.get(pk=invoice.pk)
    updates: dict[str, object] = {
        "issue_date": issued,
        "due_date": issued + datetime.timedelta(days=invoice.tenant.payment_terms_days),
    }
    for name in ("finalized_at", "approved_at", "sent_at", "paid_at", "voided_at"):
        value = getattr(invoice, name)
        if value is not None:
            updates[name] = value - shift
    Invoice.objects.filter(pk=invoice.pk).update(**updates)
    for event in InvoiceEvent.objects.filter(invoice=invoice):
        InvoiceEvent.objects.filter(pk=event.pk).update(at=event.at - shift)


# How customers paid the earlier months by hand: each manual method, with its kind of reference.
MANUAL_METHODS = [
    ("neft", "UTR{:010d}"),
    ("imps", "IMPS{:012d}"),
    ("cheque", "CHQ {:06d}"),
    ("rtgs", "UTRR{:010d}"),
    ("cash", "Receipt R-{:05d}"),
]


def _pay(
    invoice: Invoice, admin: User, amount: Decimal, method: str, ref: str, day: datetime.date
) -> None:
    payment_services.payment_record_manual(
        invoice=invoice, amount=amount, method=method, reference=ref, received_on=day, actor=admin
    )


@transaction.atomic
def seed_invoices(*, admin: User, customer: User) -> int:
    """Create the demo invoices once; return how many were created (0 when they exist)."""
    if Invoice.objects.exists():
        return 0
    tenants = {t.display_name: t for t in Tenant.objects.all()}
    today = timezone.localdate()
    months = [
        _month(today.year, today.month - n)
        if today.month > n
        else _month(today.year - 1, today.month - n + 12)
        for n in (3, 2, 1)
    ]
    created = 0
    plans = _plans()
    for name, scale in SCALES.items():
        tenant = tenants[name]
        # Umbrella joined mid-way through the first month: its first plan fee is prorated.
        starts = (
            months[0][0] + datetime.timedelta(days=14)
            if name == "Umbrella Biotech"
            else months[0][0]
        )
        plan = plans["enterprise" if name == "Globex Analytics" else "standard"]
        Subscription.objects.create(tenant=tenant, plan=plan, starts_on=starts)
        created += _seed_usage(tenant, scale, starts, today - datetime.timedelta(days=1))
    # Acme Cloud negotiated its own vCPU price, and bought a firewall set-up (billed once).
    PriceOverride.objects.create(
        tenant=tenants["Acme Cloud"],
        meter=Meter.objects.get(code="vcpu_hours"),
        unit_price=D("1.00"),
    )

    for month_index, (first, last) in enumerate(months):
        issued = last + datetime.timedelta(days=1)
        period = generation.Period(first, last)
        if month_index == len(months) - 1:
            OneTimeCharge.objects.create(
                tenant=tenants["Acme Cloud"],
                description="Dedicated firewall set-up",
                sac_code="998713",
                unit_price=D("15000"),
                created_by=admin,
            )
        # The run sees only what had arrived by the end of the month's first day.
        cutoff = datetime.datetime.combine(issued, datetime.time(23, 59), generation.IST)
        for name in SCALES:
            tenant = tenants[name]
            made = generation.generate_invoice(tenant=tenant, period=period, cutoff=cutoff)
            if made is None:
                continue
            invoice = made
            created += 1
            latest = month_index == len(months) - 1
            if latest and name == "Hooli Himalaya":
                continue  # stays a draft, awaiting review
            if latest and name == "Umbrella Biotech":
                services.invoice_finalize(invoice=invoice, actor=admin)  # pending approval
                _backdate(invoice, issued)
                continue
            services.invoice_send(invoice=invoice, actor=admin)
            _backdate(invoice, issued)
            invoice.refresh_from_db()
            paid_on = issued + datetime.timedelta(days=6)
            if not latest and name == "Acme Retail":
                continue  # paid by Pay Now through the sandbox (seed_gateway_payments)
            if not latest and name not in ("Stark Compute",):
                method, reference = MANUAL_METHODS[(month_index + len(name)) % len(MANUAL_METHODS)]
                _pay(
                    invoice,
                    admin,
                    invoice.balance_due,
                    method,
                    reference.format(invoice.pk),
                    min(paid_on, today),
                )
            elif latest and name == "Globex Analytics":
                _pay(
                    invoice,
                    admin,
                    (invoice.total * D("0.4")).quantize(D("1")),
                    "rtgs",
                    f"UTR{invoice.pk:010d}",
                    min(paid_on, today),
                )
            elif latest and name == "Initech Labs":
                _pay(
                    invoice,
                    admin,
                    invoice.balance_due,
                    "upi",
                    f"UPI{invoice.pk:08d}",
                    min(paid_on, today),
                )
            services.invoice_mark_overdue(invoice=invoice)

    # Refunded: a goodwill refund on one of Acme Cloud's paid invoices.
    paid = (
        Invoice.objects.filter(tenant=tenants["Acme Cloud"], status=Invoice.Status.PAID)
        .order_by("issue_date")
        .first()
    )
    if paid is not None:
        payment_services.refund_record(
            invoice=paid,
            payment=paid.payments.get(),
            amount=D("5000.00"),
            reason="Goodwill credit for the storage outage of 12 Sep",
            actor=admin,
        )

    # A dispute from the customer on Acme Cloud's latest invoice.
    latest_acme = (
        Invoice.objects.filter(tenant=tenants["Acme Cloud"], status__in=["sent", "overdue"])
        .order_by("-issue_date")
        .first()
    )
    if latest_acme is not None:
        services.dispute_open(
            invoice=latest_acme,
            actor=customer,
            reason="The GPU hours look doubled: we ran 56 hours, not the figure billed.",
        )

    # One-time invoices: hardware for Globex (sent); installation for Acme Retail (voided and
    # regenerated).
    hardware = services.invoice_create(
        tenant=tenants["Globex Analytics"],
        actor=admin,
        kind=Invoice.Kind.ONE_TIME,
        discount=D("2500"),
        lines=[
            services.LineData(
                "Dell PowerEdge R760 server", D("2"), D("485000"), sac_code="84714190", unit="unit"
            ),
            services.LineData(
                "Rack installation and cabling", D("1"), D("18000"), sac_code="998713", unit="job"
            ),
        ],
    )
    services.invoice_send(invoice=hardware, actor=admin, recipient="finance")
    created += 1
    install = services.invoice_create(
        tenant=tenants["Acme Retail"],
        actor=admin,
        kind=Invoice.Kind.ONE_TIME,
        lines=[
            services.LineData(
                "On-site installation (2 engineers, 1 day)",
                D("2"),
                D("12000"),
                sac_code="998713",
                unit="engineer-day",
            )
        ],
    )
    services.invoice_finalize(invoice=install, actor=admin)
    services.invoice_regenerate(
        invoice=install, actor=admin, reason="Wrong engineer count: one engineer attended"
    )
    created += 2
    return created


def seed_gateway_payments(*, customer: User) -> int:
    """Acme Retail's earlier months, paid with Pay Now through the Razorpay sandbox: a card the
    bank declined, then the card again, and UPI the next month.

    It runs the real path (order, checkout, signed callback, webhooks twice and out of order)
    with the sandbox answered in-process, because the demo's server is not up while it seeds.
    Each step commits on its own, as the requests would. Idempotent: 0 once done.
    """
    from payments import services as pay
    from payments import transport
    from payments.models import Payment
    from payments.sandbox import services as sandbox
    from payments.sandbox.inprocess import InProcessHTTP
    from payments.sandbox.views import callback_fields

    if Payment.objects.filter(method=Payment.Method.RAZORPAY).exists():
        return 0
    waiting = Invoice.objects.filter(
        tenant__display_name="Acme Retail",
        status=Invoice.Status.SENT,
        kind=Invoice.Kind.SUBSCRIPTION,
    ).order_by("issue_date")[:2]
    card = sandbox.Payer(
        method="card",
        email=customer.email,
        contact="9820012345",
        card_last4="1111",
        card_network="Visa",
        card_type="credit",
        card_name=customer.get_full_name(),
    )
    upi = sandbox.Payer(
        method="upi", email=customer.email, contact="9820012345", vpa="anita@okaxis"
    )
    attempts: dict[int, list[tuple[Any, str | None]]] = {
        0: [(card, "bank_declined"), (card, None)],
        1: [(upi, None)],
    }
    made = 0
    with transport.routed(InProcessHTTP().session):
        for index, invoice in enumerate(waiting):
            for payer, failure in attempts.get(index, []):
                payment = pay.pay_now_start(
                    invoice=invoice, amount=invoice.balance_due, actor=customer
                )
                attempt = sandbox.payment_attempt(
                    order_id=payment.gateway_order_id or "",
                    payer=payer,
                    failure=failure,
                    description=f"Invoice {invoice.number}",
                )
                pay.callback_handle(payment=payment, data=callback_fields(attempt))
                invoice.refresh_from_db()
                made += 1
    return made
