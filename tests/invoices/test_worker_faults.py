"""The monthly run on a real Celery worker (Redis broker, PostgreSQL), killed in the middle.

The worker is a separate process started from the project's own code, as `make worker` starts it,
pointed at the test database and at a Redis database of its own. It is killed with SIGKILL (the
main process and its pool child, as the kernel's OOM killer or a lost machine would), then started
again: the run must finish with exactly one invoice per tenant, every record billed once.
"""

import datetime
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count, Sum

from invoices import generation
from invoices.models import Invoice, InvoiceLine
from tests.factories import TenantFactory
from usage.models import Meter, Subscription, UsageRecord

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 15  # a database of the shared Redis no other part of the suite uses
TENANTS = 60
RECORDS_PER_TENANT = 30
OCT = generation.Period.month("2026-10")


def _redis_url() -> str:
    return f"redis://127.0.0.1:6379/{REDIS_DB}"


@pytest.fixture
def broker():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(_redis_url())
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("needs Redis on 127.0.0.1:6379")
    client.flushdb()
    yield client
    client.flushdb()


class Worker:
    """`celery worker` as a child process group, logging to a file the test shows on failure."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        db = connection.settings_dict
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env.update(
            DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}",
            REDIS_URL=_redis_url(),
            CELERY_TASK_ALWAYS_EAGER="false",
            # A killed worker's unacknowledged task comes back after this many seconds.
            CELERY_VISIBILITY_TIMEOUT="3",
            INVOICE_RUN_CHUNK="2",
            DATABASE_POOL="false",
        )
        return env

    def start(self) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - the project's own worker
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "billing_portal",
                "worker",
                "--pool=prefork",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
                "-n",
                f"fault-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def _month_of_usage(migrated_rows, provider, plan):
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


def _wait_until(predicate, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def test_a_worker_killed_mid_run_and_restarted_finishes_it_once(
    migrated_rows, provider, plan, broker, tmp_path
):
    from celery import Celery

    tenants = _month_of_usage(migrated_rows, provider, plan)
    worker = Worker(tmp_path / "worker.log")
    sender = Celery("fault-test", broker=_redis_url())
    try:
        worker.start()
        sender.send_task("invoices.tasks.generate_monthly_invoices", args=["2026-10"])
        started = _wait_until(lambda: _invoices() >= 3, timeout=120)
        assert started, f"the worker made no invoices:\n{worker.log.read_text()[-3000:]}"
        worker.kill()
        at_kill = _invoices()
        assert at_kill < TENANTS, "the run finished before the kill: the test proves nothing"

        worker.start()
        finished = _wait_until(lambda: _invoices() >= TENANTS, timeout=180, interval=0.5)
        # Let any task redelivered late run too: it must find nothing left to do.
        time.sleep(5)
        worker.stop()
        assert finished, f"{_invoices()} of {TENANTS}:\n{worker.log.read_text()[-3000:]}"
    finally:
        worker.kill()
        sender.close()

    per_tenant = dict(
        Invoice.objects.filter(period_start=OCT.start)
        .values_list("tenant")
        .annotate(n=Count("pk"))
        .values_list("tenant", "n")
    )
    assert per_tenant == {t.pk: 1 for t in tenants}
    assert all(generation.billed_line(r) for r in UsageRecord.objects.all()), "a record was missed"
    usage_lines = InvoiceLine.objects.filter(kind="usage", invoice__period_start=OCT.start)
    billed = dict(
        usage_lines.values_list("invoice__tenant")
        .annotate(q=Sum("quantity"))
        .values_list("invoice__tenant", "q")
    )
    used = dict(
        UsageRecord.objects.values_list("tenant")
        .annotate(q=Sum("quantity"))
        .values_list("tenant", "q")
    )
    assert billed == used, "a record was billed twice or not at all"
    print(
        f"\nkilled-worker run: {at_kill} of {TENANTS} invoices before SIGKILL, "
        f"{_invoices()} after the restart, {UsageRecord.objects.count()} records billed once"
    )
