"""The monthly run: drafts from SQL aggregates, idempotent, late usage on the next invoice."""

import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from invoices import generation, services
from invoices.models import Invoice
from tests.invoices.builders import usage_record
from usage.models import (
    Meter,
    OneTimeCharge,
    PriceOverride,
    Subscription,
    UsageCursor,
    UsageRecord,
)

D = Decimal
OCT = generation.Period.month("2026-10")
IST = generation.IST


@pytest.fixture
def subscribed(acme, plan, provider):
    Subscription.objects.create(tenant=acme, plan=plan, starts_on=datetime.date(2026, 1, 1))
    return acme


def use(tenant, meter, quantity, day, key, dimension=""):
    """A record of ``day`` (month, day[, hour, minute]) of 2026, 10:00 India's time unless said."""
    when = day if len(day) == 4 else (*day, 10, 0)
    start = datetime.datetime(2026, *when, tzinfo=IST)
    return usage_record(tenant, meter, quantity, start, key, dimension)


def lines_of(invoice):
    return {line.description: line.amount for line in invoice.lines.all()}


def test_a_month_of_usage_becomes_one_priced_draft(subscribed):
    use(subscribed, "vcpu_hours", "600", (10, 3), "a")
    use(subscribed, "vcpu_hours", "400", (10, 20), "b")
    use(subscribed, "egress_gb", "1600", (10, 5), "c")
    use(subscribed, "gpu_hours", "10", (10, 7), "d", "A100")
    use(subscribed, "gpu_hours", "4", (10, 8), "e", "T4")
    use(subscribed, "vcpu_hours", "999", (11, 1), "november")  # the next period
    invoice = generation.generate_invoice(tenant=subscribed, period=OCT)
    assert (invoice.status, invoice.kind, invoice.period_start) == (
        "draft",
        "subscription",
        OCT.start,
    )
    assert lines_of(invoice) == {
        "Standard plan - monthly fee": D("25000.00"),
        "vCPU-hours": D("1200.00"),  # 1000 x 1.20
        "Network egress GB": D("6000.00"),  # 100 free, 1000 x 4.50, 500 x 3.00
        "GPU-hours - A100": D("1800.00"),
        "GPU-hours - T4": D("360.00"),  # the meter's general price
    }
    egress = invoice.lines.get(description="Network egress GB")
    assert egress.pricing_detail == "100 included; 1000 × ₹4.5 + 500 × ₹3"
    assert egress.sac_code == "998315"
    assert invoice.subtotal == D("34360.00")
    assert invoice.cgst == invoice.sgst == D("3092.40")  # Maharashtra to Maharashtra, 9% each


def test_each_line_links_the_records_that_built_it(subscribed):
    a = use(subscribed, "vcpu_hours", "600", (10, 3), "a")
    b = use(subscribed, "vcpu_hours", "400", (10, 20), "b")
    later = use(subscribed, "vcpu_hours", "5", (11, 2), "later")
    invoice = generation.generate_invoice(tenant=subscribed, period=OCT)
    line = invoice.lines.get(description="vCPU-hours")
    assert set(generation.line_records(line).values_list("pk", flat=True)) == {a.pk, b.pk}
    assert generation.billed_line(a) == line
    assert generation.billed_line(later) is None


def test_the_run_twice_gives_the_same_invoice(subscribed):
    use(subscribed, "vcpu_hours", "600", (10, 3), "a")
    first = generation.generate_invoice(tenant=subscribed, period=OCT)
    assert generation.generate_invoice(tenant=subscribed, period=OCT) is None
    assert Invoice.objects.count() == 1
    (line,) = first.lines.filter(kind="usage")
    assert generation.line_records(line).count() == 1


def test_a_subscription_started_mid_month_is_prorated_by_day(acme, plan, provider):
    Subscription.objects.create(tenant=acme, plan=plan, starts_on=datetime.date(2026, 10, 11))
    invoice = generation.generate_invoice(tenant=acme, period=OCT)
    fee = invoice.lines.get(kind="recurring")
    assert fee.description == "Standard plan - monthly fee (21 of 31 days)"
    assert fee.amount == D("16935.48")
    assert fee.period_start == datetime.date(2026, 10, 11)


def test_a_tenants_own_price_overrides_the_plan(subscribed):
    PriceOverride.objects.create(
        tenant=subscribed, meter=Meter.objects.get(code="vcpu_hours"), unit_price=D("1.00")
    )
    use(subscribed, "vcpu_hours", "1000", (10, 3), "a")
    invoice = generation.generate_invoice(tenant=subscribed, period=OCT)
    assert lines_of(invoice)["vCPU-hours"] == D("1000.00")


def test_late_usage_is_billed_on_the_next_invoice_on_a_line_naming_its_month(
    subscribed, billing_admin
):
    use(subscribed, "vcpu_hours", "100", (10, 3), "a")
    october = generation.generate_invoice(tenant=subscribed, period=OCT)
    services.invoice_finalize(invoice=october, actor=billing_admin)
    late = use(subscribed, "vcpu_hours", "50", (10, 30), "late")  # arrives in November
    use(subscribed, "vcpu_hours", "10", (11, 4), "nov")
    november = generation.generate_invoice(
        tenant=subscribed, period=generation.Period.month("2026-11")
    )
    assert lines_of(november)["vCPU-hours (usage of Oct 2026, received late)"] == D("60.00")
    late_line = november.lines.get(description__contains="received late")
    assert (late_line.period_start, late_line.period_end) == (
        datetime.date(2026, 10, 1),
        datetime.date(2026, 10, 31),
    )
    assert lines_of(november)["vCPU-hours"] == D("12.00")
    assert generation.billed_line(late).invoice == november
    october.refresh_from_db()
    assert october.total == D("29642.00")  # 25,120 + 18% rounded: unchanged by the late usage


def test_records_received_are_records_billed_plus_records_waiting(subscribed):
    for i in range(5):
        use(subscribed, "vcpu_hours", "1", (10, 1 + i), f"oct{i}")
    for i in range(3):
        use(subscribed, "vcpu_hours", "1", (11, 1 + i), f"nov{i}")
    generation.generate_invoice(tenant=subscribed, period=OCT)
    records = list(UsageRecord.objects.all())
    billed = sum(1 for r in records if generation.billed_line(r) is not None)
    waiting = sum(1 for r in records if generation.billed_line(r) is None)
    assert (billed, waiting, billed + waiting) == (5, 3, len(records))


def test_a_record_stored_after_the_runs_watermark_waits_for_the_next_invoice(subscribed):
    use(subscribed, "vcpu_hours", "100", (10, 3), "a")
    run = generation.run_start(OCT)
    arriving = use(subscribed, "vcpu_hours", "7", (10, 4), "mid-run")
    assert generation.generate_for_tenants([subscribed.pk], OCT, run=run).created == 1
    october = Invoice.objects.get()
    assert lines_of(october)["vCPU-hours"] == D("120.00")
    assert generation.billed_line(arriving) is None
    november = generation.generate_invoice(
        tenant=subscribed, period=generation.Period.month("2026-11")
    )
    assert lines_of(november)["vCPU-hours (usage of Oct 2026, received late)"] == D("8.40")
    assert generation.billed_line(arriving).invoice == november


def test_one_time_charges_go_on_the_next_invoice_once(subscribed, billing_admin):
    charge = OneTimeCharge.objects.create(
        tenant=subscribed, description="Rack installation", sac_code="998713", unit_price=D("18000")
    )
    invoice = generation.generate_invoice(tenant=subscribed, period=OCT)
    charge.refresh_from_db()
    assert charge.invoice_line.invoice == invoice
    assert lines_of(invoice)["Rack installation"] == D("18000.00")


def test_a_tenant_with_nothing_to_bill_gets_no_invoice(globex, plan, provider):
    assert generation.generate_invoice(tenant=globex, period=OCT) is None
    assert not Invoice.objects.exists()


def test_regenerating_rebuilds_the_period_from_corrected_usage(subscribed, billing_admin):
    record = use(subscribed, "vcpu_hours", "1000", (10, 3), "a")
    invoice = generation.generate_invoice(tenant=subscribed, period=OCT)
    services.invoice_finalize(invoice=invoice, actor=billing_admin)
    UsageRecord.objects.filter(pk=record.pk).update(quantity=D("100"))  # corrected at source
    draft = services.invoice_regenerate(invoice=invoice, actor=billing_admin, reason="Meter fault")
    invoice.refresh_from_db()
    assert invoice.status == "voided"
    assert lines_of(draft)["vCPU-hours"] == D("120.00")
    assert draft.regenerated_from == invoice
    assert generation.billed_line(record).invoice == draft


def test_the_command_runs_idempotently_and_dry_runs_write_nothing(subscribed):
    use(subscribed, "vcpu_hours", "100", (10, 3), "a")
    out = StringIO()
    call_command("generate_invoices", "--period", "2026-10", "--dry-run", stdout=out)
    assert "Acme Cloud: 2 lines, 1 records" in out.getvalue()
    assert "nothing written" in out.getvalue()
    assert not Invoice.objects.exists()
    call_command("generate_invoices", "--period", "2026-10", stdout=(out := StringIO()))
    assert "1 drafts created" in out.getvalue()
    call_command("generate_invoices", "--period", "2026-10", stdout=(out := StringIO()))
    assert "0 drafts created, 1 skipped" in out.getvalue()
    assert Invoice.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2026-13"], "not a month"),
        (["--period", "2026-10", "--tenant", "999"], "No tenant with id 999"),
    ],
)
def test_the_command_refuses_bad_input(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("generate_invoices", *args)


def test_the_beat_task_fans_out_over_chunks(subscribed, globex, settings, monkeypatch):
    from invoices import tasks

    settings.INVOICE_RUN_CHUNK = 1
    use(subscribed, "vcpu_hours", "100", (10, 3), "a")
    assert tasks.generate_monthly_invoices("2026-10") == 2
    october = Invoice.objects.get(tenant=subscribed, period_start=OCT.start)
    assert lines_of(october)["vCPU-hours"] == D("120.00")  # its chunk found its usage


def test_summed_quantities_are_exact_to_six_places(subscribed):
    # Ten records of 0.1: a float sum gives 0.9999999999999999.
    for i in range(10):
        use(subscribed, "vcpu_hours", "0.1", (10, 1 + i), f"tenth{i}")
    invoice = generation.generate_invoice(tenant=subscribed, period=OCT)
    line = invoice.lines.get(description="vCPU-hours")
    assert line.quantity == D("1.000000")
    assert line.pricing_detail == "1 × ₹1.2"


def test_a_chunked_run_bills_every_tenant_as_a_run_of_one_would(subscribed, globex, plan):
    Subscription.objects.create(tenant=globex, plan=plan, starts_on=datetime.date(2026, 1, 1))
    use(subscribed, "vcpu_hours", "100", (10, 3), "a")
    use(subscribed, "gpu_hours", "2", (10, 4), "g1", dimension="A100")
    use(globex, "egress_gb", "300", (10, 5), "e")
    use(globex, "vcpu_hours", "10", (9, 30), "september")  # never billed before: late usage
    run = generation.run_start(OCT)
    result = generation.generate_for_tenants([subscribed.pk, globex.pk], OCT, run=run)
    assert (result.created, result.failed) == (2, [])
    acme_oct = Invoice.objects.get(tenant=subscribed)
    globex_oct = Invoice.objects.get(tenant=globex)
    assert lines_of(acme_oct)["vCPU-hours"] == D("120.00")
    assert "vCPU-hours (usage of Sep 2026, received late)" in lines_of(globex_oct)
    # Totals are the same as for an invoice built and written one at a time.
    again = services.invoice_recompute(invoice=Invoice.objects.get(pk=acme_oct.pk))
    assert (again.total, again.cgst, again.igst) == (acme_oct.total, acme_oct.cgst, acme_oct.igst)
    assert acme_oct.events.filter(type="created").count() == 1
    every = {r.pk for r in UsageRecord.objects.all()}
    billed = {
        pk
        for line in [*acme_oct.lines.all(), *globex_oct.lines.all()]
        for pk in generation.line_records(line).values_list("pk", flat=True)
    }
    assert billed == every
    # The same run again (a redelivered chunk) creates nothing.
    assert generation.generate_for_tenants([subscribed.pk, globex.pk], OCT, run=run).created == 0


def test_usage_released_by_a_void_is_billed_again_once(subscribed, billing_admin):
    a = use(subscribed, "vcpu_hours", "100", (10, 3), "a")
    october = generation.generate_invoice(tenant=subscribed, period=OCT)
    services.invoice_finalize(invoice=october, actor=billing_admin)
    late = use(subscribed, "vcpu_hours", "50", (10, 30), "late")
    nov = generation.Period.month("2026-11")
    november = generation.generate_invoice(tenant=subscribed, period=nov)
    assert generation.billed_line(late).invoice == november
    # October is corrected after November billed October's late usage: the regenerated October
    # bills what October billed (record a), not what November holds (the late record).
    after = use(subscribed, "vcpu_hours", "7", (10, 31), "after-void")
    draft = services.invoice_regenerate(invoice=october, actor=billing_admin, reason="Wrong rate")
    assert generation.billed_line(a).invoice == draft
    assert generation.billed_line(late).invoice == november
    assert generation.billed_line(after).invoice == draft
    assert lines_of(draft)["vCPU-hours"] == D("128.40")  # (100 + 7) x 1.2
    # December reads the released months again and finds nothing left to bill twice.
    december = generation.generate_invoice(
        tenant=subscribed, period=generation.Period.month("2026-12")
    )
    assert [line.kind for line in december.lines.all()] == ["recurring"]


def test_usage_without_a_price_waits_and_is_billed_once_priced(subscribed, plan):
    gpu = use(subscribed, "gpu_hours", "3", (10, 3), "gpu", dimension="H100")
    plan.prices.filter(meter__code="gpu_hours").delete()
    october = generation.generate_invoice(tenant=subscribed, period=OCT)
    assert [line.kind for line in october.lines.all()] == ["recurring"]
    assert generation.billed_line(gpu) is None
    PriceOverride.objects.create(
        tenant=subscribed, meter=Meter.objects.get(code="gpu_hours"), unit_price=D("200")
    )
    november = generation.generate_invoice(
        tenant=subscribed, period=generation.Period.month("2026-11")
    )
    assert lines_of(november)["GPU-hours - H100 (usage of Oct 2026, received late)"] == D("600.00")
    assert generation.billed_line(gpu).invoice == november


def test_a_month_with_usage_both_priced_and_not_bills_only_the_priced(subscribed, plan):
    cpu = use(subscribed, "vcpu_hours", "10", (10, 3), "cpu")
    gpu = use(subscribed, "gpu_hours", "3", (10, 4), "gpu", dimension="H100")
    plan.prices.filter(meter__code="gpu_hours").delete()
    october = generation.generate_invoice(tenant=subscribed, period=OCT)
    cpu_line = october.lines.get(description="vCPU-hours")
    assert list(generation.line_records(cpu_line)) == [cpu]
    assert generation.billed_line(cpu) == cpu_line
    assert generation.billed_line(gpu) is None  # waits for a price, not billed by October
    PriceOverride.objects.create(
        tenant=subscribed, meter=Meter.objects.get(code="gpu_hours"), unit_price=D("200")
    )
    november = generation.generate_invoice(
        tenant=subscribed, period=generation.Period.month("2026-11")
    )
    late = november.lines.get(description="GPU-hours - H100 (usage of Oct 2026, received late)")
    assert list(generation.line_records(late)) == [gpu]
    assert generation.billed_line(gpu) == late
    assert "vCPU-hours (usage of Oct 2026, received late)" not in lines_of(november)


def test_a_tenant_billed_after_the_aggregate_was_taken_is_read_again(subscribed):
    early = use(subscribed, "vcpu_hours", "100", (10, 3), "a")
    run = generation.run_start(OCT)  # the aggregate counts record a for October
    november = generation.generate_invoice(
        tenant=subscribed, period=generation.Period.month("2026-11")
    )  # ... but November bills it first, as late usage
    assert generation.billed_line(early).invoice == november
    generation.generate_for_tenants([subscribed.pk], OCT, run=run)
    october = Invoice.objects.get(period_start=OCT.start)
    assert [line.kind for line in october.lines.all()] == ["recurring"]  # not billed twice


def test_a_chunk_that_fails_is_done_tenant_by_tenant(subscribed, globex, plan, monkeypatch):
    Subscription.objects.create(tenant=globex, plan=plan, starts_on=datetime.date(2026, 1, 1))
    use(subscribed, "vcpu_hours", "100", (10, 3), "a")
    use(globex, "vcpu_hours", "100", (10, 3), "b")
    build = services.invoice_build

    def failing_for_globex(**kwargs):
        if kwargs["tenant"].pk == globex.pk:
            raise RuntimeError("tax service down")
        return build(**kwargs)

    monkeypatch.setattr(services, "invoice_build", failing_for_globex)
    run = generation.run_start(OCT)
    result = generation.generate_for_tenants([subscribed.pk, globex.pk], OCT, run=run)
    assert result.created == 1
    assert result.failed == [(globex.pk, "tax service down")]
    assert list(Invoice.objects.values_list("tenant", flat=True)) == [subscribed.pk]
    assert (
        not generation.line_records(Invoice.objects.get().lines.get(kind="usage"))
        .filter(tenant=globex)
        .exists()
    )
    monkeypatch.undo()
    assert generation.generate_for_tenants([subscribed.pk, globex.pk], OCT, run=run).created == 1


def test_the_command_refuses_processes_it_cannot_use(db):
    from django.db import connection

    with pytest.raises(CommandError, match="at least 1"):
        call_command("generate_invoices", "--period", "2026-10", "--processes", "0")
    if connection.vendor == "postgresql":
        return  # runs there: tests/invoices/test_generation_races.py
    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("generate_invoices", "--period", "2026-10", "--processes", "2")


def test_billed_usage_survives_a_dump_and_load(subscribed, tmp_path):
    """Backups by dumpdata / loaddata: a billed tenant's records (whose cursor the run joins to
    them) are written and read back as they were."""
    use(subscribed, "vcpu_hours", "600", (10, 3), "a")
    generation.generate_invoice(tenant=subscribed, period=OCT)
    assert UsageCursor.objects.filter(tenant=subscribed).exists()
    dumped = StringIO()
    call_command("dumpdata", "usage.usagerecord", stdout=dumped)
    UsageRecord.objects.all().delete()
    path = tmp_path / "usage.json"
    path.write_text(dumped.getvalue())
    call_command("loaddata", str(path), verbosity=0)
    (record,) = UsageRecord.objects.all()
    assert (record.idempotency_key, record.quantity) == ("a", D("600"))
    assert generation.billed_line(record) is not None


def test_the_run_works_with_queries_logged_as_under_debug(subscribed):
    """A developer's settings (DEBUG on) wrap every cursor to log its queries; the run's
    aggregate and bulk writes go through that wrapper too."""
    from django.db import connection

    use(subscribed, "vcpu_hours", "100", (10, 3), "a")
    connection.force_debug_cursor = True
    try:
        run = generation.run_start(OCT)
        result = generation.generate_for_tenants([subscribed.pk], OCT, run=run)
    finally:
        connection.force_debug_cursor = False
    assert result.created == 1
    assert lines_of(Invoice.objects.get(tenant=subscribed))["vCPU-hours"] == D("120.00")


def test_the_aggregate_sums_records_on_both_sides_of_the_cursors(subscribed, globex, plan):
    """The run reads records received since every cursor without looking at the cursors, and
    the rest against their tenant's: a group with records on both sides is one line, and what a
    cursor vouches for is not billed again."""
    Subscription.objects.create(tenant=globex, plan=plan, starts_on=datetime.date(2026, 1, 1))
    use(subscribed, "vcpu_hours", "10", (9, 5), "september")
    use(subscribed, "vcpu_hours", "1", (10, 1), "early")  # October's, received before Sep's run
    use(globex, "vcpu_hours", "5", (10, 3), "globex-before")  # a tenant never billed
    sep = generation.generate_invoice(tenant=subscribed, period=generation.Period.month("2026-09"))
    assert lines_of(sep)["vCPU-hours"] == D("12.00")  # billed in September: 10 at ₹1.20
    cursor = UsageCursor.objects.get(tenant=subscribed)
    use(subscribed, "vcpu_hours", "100", (10, 6), "after")
    use(globex, "vcpu_hours", "7", (10, 4), "globex-after")
    assert UsageRecord.objects.get(idempotency_key="after").pk > cursor.upto_id

    run = generation.run_start(OCT)
    result = generation.generate_for_tenants([subscribed.pk, globex.pk], OCT, run=run)

    assert (result.created, result.failed) == (2, [])
    acme_oct = Invoice.objects.get(tenant=subscribed, period_start=OCT.start)
    globex_oct = Invoice.objects.get(tenant=globex, period_start=OCT.start)
    assert acme_oct.lines.get(description="vCPU-hours").quantity == D("101")
    assert globex_oct.lines.get(description="vCPU-hours").quantity == D("12")
    assert not acme_oct.lines.filter(description__contains="received late").exists()
    billed = [
        key
        for invoice in (sep, acme_oct, globex_oct)
        for line in invoice.lines.all()
        for key in generation.line_records(line).values_list("idempotency_key", flat=True)
    ]
    assert sorted(billed) == sorted(UsageRecord.objects.values_list("idempotency_key", flat=True))


def test_a_month_ends_at_midnight_in_india(subscribed):
    """Usage half an hour either side of midnight, 31 Oct to 1 Nov India's time (18:00 UTC), is
    billed in October and in November respectively, on lines of their own month."""

    before = use(subscribed, "vcpu_hours", "1", (10, 31, 23, 30), "before-midnight")
    after = use(subscribed, "vcpu_hours", "1", (11, 1, 0, 30), "after-midnight")
    october = generation.generate_invoice(tenant=subscribed, period=OCT)
    assert generation.billed_line(before).invoice == october
    assert generation.billed_line(after) is None
    november = generation.generate_invoice(
        tenant=subscribed, period=generation.Period.month("2026-11")
    )
    line = generation.billed_line(after)
    assert line.invoice == november
    assert line.description == "vCPU-hours"
    assert line.period_start == datetime.date(2026, 11, 1)
