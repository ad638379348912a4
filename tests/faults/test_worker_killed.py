"""The monthly run on a real Celery worker, killed with SIGKILL in the middle and started again.

The worker is the project's own (``celery -A billing_portal worker``, as ``make worker`` starts it)
on the private PostgreSQL and Redis. SIGKILL goes to its process group, the main process and its
pool child, as the kernel's OOM killer or a lost machine would: the chunk it was running is never
acknowledged and comes back after the visibility timeout. The run must end with exactly one
invoice per tenant, every record billed once.
"""

import datetime
import time
from decimal import Decimal

from celery import Celery
from django.db.models import Count, Sum

from invoices import generation
from invoices.models import Invoice, InvoiceLine
from tests.factories import TenantFactory
from tests.faults.stack import wait_until
from usage.models import Meter, Subscription, UsageRecord

TENANTS = 60
RECORDS_PER_TENANT = 30
OCT = generation.Period.month("2026-10")


def _month_of_usage(plan):
    vcpu = Meter.objects.get(code="vcpu_hours")
    tenants = [TenantFactory(display_name=f"Fault Tenant {i:03d}") for i in range(TENANTS)]
    start = datetime.datetime(2026, 10, 1, tzinfo=generation.IST)
    Subscription.objects.bulk_create(
        Subscription(tenant=t, plan=plan, starts_on=datetime.date(2026, 1, 1)) for t in tenants
    )
    UsageRecord.objects.bulk_create(
        UsageRecord(
            tenant=t,
            meter=vcpu,
            resource_id=f"vm-{n % 3}",
            quantity=Decimal(n + 1),
            window_start=start + datetime.timedelta(hours=n),
            window_end=start + datetime.timedelta(hours=n + 1),
            idempotency_key=f"{t.pk}-{n}",
        )
        for t in tenants
        for n in range(RECORDS_PER_TENANT)
    )
    return tenants


def _invoices() -> int:
    return Invoice.objects.filter(period_start=OCT.start, kind="subscription").count()


def test_a_worker_killed_mid_run_and_restarted_finishes_it_once(figures, provider, plan, stack):
    tenants = _month_of_usage(plan)
    # A killed worker's unacknowledged chunk comes back after 3 s; two tenants a chunk make
    # thirty chunks, so the kill lands with most of them still to do.
    settings = {"CELERY_VISIBILITY_TIMEOUT": "3", "INVOICE_RUN_CHUNK": "2"}
    worker = stack.worker(**settings).start()
    # Not the current app: otherwise every shared task this process calls later (the rest of the
    # suite, run eagerly) would resolve to this bare app and go to its broker instead.
    sender = Celery("fault-test", broker=stack.env["REDIS_URL"], set_as_current=False)
    try:
        sender.send_task("invoices.tasks.generate_monthly_invoices", args=["2026-10"])
        started = wait_until(lambda: _invoices() >= 3, timeout=120, interval=0.02)
        assert started, f"the worker made no invoices:\n{worker.log_tail()}"
        worker.kill()
        at_kill = _invoices()
        assert not worker.running
        assert at_kill < TENANTS, "the run finished before the kill: the test proves nothing"

        again = stack.worker(name="worker-again", **settings).start()
        finished = wait_until(lambda: _invoices() >= TENANTS, timeout=180, interval=0.5)
        # Let any task redelivered late run too: it must find nothing left to do.
        time.sleep(4)
        again.stop()
        assert finished, f"{_invoices()} of {TENANTS}:\n{again.log_tail()}"
    finally:
        sender.close()

    per_tenant = dict(
        Invoice.objects.filter(period_start=OCT.start)
        .values_list("tenant")
        .annotate(n=Count("pk"))
        .values_list("tenant", "n")
    )
    assert per_tenant == {t.pk: 1 for t in tenants}
    # Every record on exactly one line, through the model's own link (a line's usage ranges).
    billed_ids: list[int] = []
    billed: dict[int, Decimal] = {}
    for line in InvoiceLine.objects.filter(
        invoice__period_start=OCT.start, kind=InvoiceLine.Kind.USAGE
    ).select_related("invoice"):
        for record_id, quantity in generation.line_records(line).values_list("pk", "quantity"):
            billed_ids.append(record_id)
            tenant = line.invoice.tenant_id
            billed[tenant] = billed.get(tenant, Decimal(0)) + quantity
    assert sorted(billed_ids) == sorted(UsageRecord.objects.values_list("pk", flat=True)), (
        "a record was billed twice or not at all"
    )
    used = dict(
        UsageRecord.objects.values_list("tenant")
        .annotate(q=Sum("quantity"))
        .values_list("tenant", "q")
    )
    assert billed == used
    figures(
        f"killed-worker run: {at_kill} of {TENANTS} invoices before SIGKILL, "
        f"{_invoices()} after the restart, {UsageRecord.objects.count()} records billed once"
    )
