"""The monthly run against inserts in flight, on PostgreSQL's real transactions."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from invoices import generation
from tests.invoices.builders import usage_record
from usage.models import Meter, UsageRecord

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_watermark_waits_for_an_insert_in_flight(migrated_rows, acme):
    """A record inserted by a transaction that commits after the watermark was asked for must be
    below the watermark (billed by this run) or above it (left for the next): never below it
    but unseen, which is how a record would be skipped for ever."""
    inserted = threading.Event()
    done: dict[str, int] = {}

    def insert_and_hold():
        try:
            with transaction.atomic():
                start = datetime.datetime(2026, 10, 3, tzinfo=generation.IST)
                record = UsageRecord.objects.create(
                    tenant=acme,
                    meter=Meter.objects.get(code="vcpu_hours"),
                    resource_id="vm-1",
                    quantity=Decimal("1"),
                    window_start=start,
                    window_end=start + datetime.timedelta(hours=1),
                    idempotency_key="in-flight",
                )
                done["id"] = record.pk
                inserted.set()
                threading.Event().wait(1.0)  # still uncommitted while the run starts
        finally:
            connection.close()

    writer = threading.Thread(target=insert_and_hold)
    writer.start()
    assert inserted.wait(10)
    watermark = generation.usage_watermark()
    writer.join()
    assert watermark >= done["id"]
    assert UsageRecord.objects.filter(pk=done["id"]).exists()


def test_the_command_drafts_chunks_in_processes_of_its_own(
    migrated_rows, acme, globex, plan, provider, settings
):
    from io import StringIO

    from django.core.management import call_command

    from invoices.models import Invoice
    from usage.models import Subscription

    settings.INVOICE_RUN_CHUNK = 1
    for tenant in (acme, globex):
        Subscription.objects.create(tenant=tenant, plan=plan, starts_on=datetime.date(2026, 1, 1))
        start = datetime.datetime(2026, 10, 3, tzinfo=generation.IST)
        UsageRecord.objects.create(
            tenant=tenant,
            meter=Meter.objects.get(code="vcpu_hours"),
            resource_id="vm-1",
            quantity=Decimal("100"),
            window_start=start,
            window_end=start + datetime.timedelta(hours=1),
            idempotency_key="a",
        )
    out = StringIO()
    call_command("generate_invoices", "--period", "2026-10", "--processes", "2", stdout=out)
    assert "2 drafts created" in out.getvalue()
    assert Invoice.objects.filter(period_start=datetime.date(2026, 10, 1)).count() == 2
    for invoice in Invoice.objects.all():
        (line,) = invoice.lines.filter(kind="usage")
        assert generation.line_records(line).count() == 1


def test_a_cursor_moved_while_the_aggregate_is_taken_is_not_billed_twice(
    migrated_rows, acme, plan, provider, monkeypatch
):
    """The aggregate reads the cursors' bounds, then the records beyond them, in two statements.
    A tenant billed in between (here: September billed again up to a late record) must be seen
    by neither or by both, so that the run does not bill that record a second time."""
    from invoices.models import Invoice
    from usage.models import Subscription, UsageCursor

    Subscription.objects.create(tenant=acme, plan=plan, starts_on=datetime.date(2026, 1, 1))

    def use(day: tuple[int, int], quantity: str, key: str) -> UsageRecord:
        start = datetime.datetime(2026, *day, 10, tzinfo=generation.IST)
        return usage_record(acme, "vcpu_hours", quantity, start, key)

    use((9, 5), "10", "september")
    generation.generate_invoice(tenant=acme, period=generation.Period.month("2026-09"))
    use((10, 3), "100", "october")
    late = use((9, 20), "7", "september-late")

    def bill_september_again() -> None:
        try:  # another connection, committed before the aggregate reads the records
            UsageCursor.objects.filter(tenant=acme).update(upto_id=late.pk)
        finally:
            connection.close()

    parts = generation.unbilled_record_parts

    def parts_after_a_concurrent_bill(**kwargs):
        chosen = parts(**kwargs)  # the bounds are read here
        writer = threading.Thread(target=bill_september_again)
        writer.start()
        writer.join()
        return chosen

    monkeypatch.setattr(generation, "unbilled_record_parts", parts_after_a_concurrent_bill)
    october = generation.Period.month("2026-10")
    run = generation.run_start(october)
    monkeypatch.undo()
    assert generation.generate_for_tenants([acme.pk], october, run=run).created == 1

    invoice = Invoice.objects.get(tenant=acme, period_start=october.start)
    assert [line.description for line in invoice.lines.filter(kind="usage")] == ["vCPU-hours"]
    assert invoice.lines.get(kind="usage").quantity == Decimal("100")
