"""Demo invoices: several months for every demo tenant, in every status.

The services issue invoices today; to show a history, the demo moves each invoice's dates back to
the month it stands for, after the services did the real work (numbering in date order, taxes,
payments, the timeline). Real invoices are never backdated.
"""

import datetime
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from invoices import services
from invoices.models import Invoice, InvoiceEvent, InvoiceLine
from payments import services as payment_services
from tenants.models import Tenant

D = Decimal
K = InvoiceLine.Kind


def _usage_lines(
    scale: Decimal, period: tuple[datetime.date, datetime.date]
) -> list[services.LineData]:
    start, end = period
    return [
        services.LineData(
            "Standard plan - monthly fee",
            D("1"),
            D("25000"),
            kind=K.RECURRING,
            unit="month",
            period_start=start,
            period_end=end,
        ),
        services.LineData(
            "Compute - vCPU-hours",
            (D("1450") * scale).quantize(D("1")),
            D("1.20"),
            kind=K.USAGE,
            unit="vCPU-hour",
            resource_type="compute",
            period_start=start,
            period_end=end,
        ),
        services.LineData(
            "Compute - RAM GB-hours",
            (D("5800") * scale).quantize(D("1")),
            D("0.16"),
            kind=K.USAGE,
            unit="GB-hour",
            resource_type="compute",
            period_start=start,
            period_end=end,
        ),
        services.LineData(
            "Block storage - GB-months",
            (D("500") * scale).quantize(D("1")),
            D("6.00"),
            kind=K.USAGE,
            unit="GB-month",
            resource_type="storage",
            period_start=start,
            period_end=end,
        ),
        services.LineData(
            "Network egress - GB",
            (D("1200") * scale).quantize(D("1")),
            D("4.50"),
            kind=K.USAGE,
            unit="GB",
            resource_type="network",
            period_start=start,
            period_end=end,
        ),
        services.LineData(
            "GPU - NVIDIA A100 hours",
            (D("40") * scale).quantize(D("1")),
            D("180.00"),
            kind=K.USAGE,
            unit="GPU-hour",
            resource_type="gpu",
            period_start=start,
            period_end=end,
        ),
    ]


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
    scales = {
        "Acme Cloud": D("1.4"),
        "Acme Retail": D("0.3"),
        "Globex Analytics": D("2.1"),
        "Initech Labs": D("0.5"),
        "Umbrella Biotech": D("0.8"),
        "Hooli Himalaya": D("0.6"),
        "Stark Compute": D("1.0"),
    }

    for month_index, period in enumerate(months):
        issued = period[1] + datetime.timedelta(days=1)
        for name, scale in scales.items():
            tenant = tenants[name]
            invoice = services.invoice_create(
                tenant=tenant,
                lines=_usage_lines(scale, period),
                actor=None,
                kind=Invoice.Kind.SUBSCRIPTION,
                period_start=period[0],
                period_end=period[1],
            )
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
            if not latest and name not in ("Stark Compute",):
                _pay(
                    invoice,
                    admin,
                    invoice.balance_due,
                    "neft",
                    f"UTR{invoice.pk:010d}",
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
