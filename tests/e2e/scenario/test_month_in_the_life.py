"""A month in the life of the portal, end to end, on the production stack in miniature.

gunicorn, one Celery worker and beat run against a private PostgreSQL and Redis, mail goes to an
SMTP server on loopback, and people work in Chromium. Five customers in different GST situations
send a month of usage over the HTTP API (with retries and repeats), and a batch of it late; the
monthly run drafts their invoices; the drafts' grace period passes (``DRAFT_GRACE_DAYS=0``) and the
morning sweep finalizes them; ``admin`` approves and sends each one, and every customer receives
its tax invoice PDF; ``acme-owner`` pays in full and ``globex-owner`` in part through the sandbox's
checkout, whose webhooks come twice and backwards; Initech pays nothing, and the sweeps of the
following weeks (run by a worker whose clock is moved to each morning, each sweep sent twice)
remind it once per step, mark it overdue and suspend it; ``finance`` exports the month, and the
files add up to the invoices and the money received; the next month's run bills the late batch.
"""

import csv
import datetime
import io
from collections import Counter
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import Browser

from invoices import generation
from invoices.models import Invoice, InvoiceEvent, InvoiceLine, OutboundEmail
from payments.models import Payment, WebhookEvent
from payments.sandbox.models import SandboxWebhookEvent
from tenants.models import Tenant
from tests.e2e.conftest import ConsoleLog
from tests.e2e.scenario import journeys
from tests.e2e.scenario.operations import (
    Metering,
    MovedWorker,
    Stopwatch,
    Tasks,
    attachments,
    pdf_text,
    run_sweep_twice,
    subject,
    subjects,
)
from tests.e2e.scenario.world import (
    ACME,
    CUSTOMERS,
    GLOBEX,
    HOOLI,
    INITECH,
    STARK,
    Key,
    build_world,
    late_usage,
    month_of_usage,
    weekly_batches,
)
from tests.faults.stack import json_lines, wait_until
from usage.models import Meter, UsageRecord, UsageRun

pytestmark = [pytest.mark.e2e, pytest.mark.stack]

S = Invoice.Status
IST = generation.IST
ZERO = Decimal("0.00")
RUN = "invoices.tasks.generate_monthly_invoices"
SWEEP_AT = datetime.time(6, 30)  # beat's daily sweep, Asia/Kolkata


def at(day: datetime.date, when: datetime.time = SWEEP_AT) -> datetime.datetime:
    return datetime.datetime.combine(day, when, IST)


def month_invoices(month: generation.Period):
    return Invoice.objects.filter(period_start=month.start, kind=Invoice.Kind.SUBSCRIPTION)


def usage_quantities(invoice: Invoice, meters: dict[int, Meter]) -> Counter[Key]:
    """The invoice's usage lines as (customer, meter, dimension) -> quantity, from the records
    each line billed (the line's own quantity is checked to equal their sum)."""
    found: Counter[Key] = Counter()
    for line in invoice.lines.filter(kind=InvoiceLine.Kind.USAGE):
        records = generation.line_records(line)
        billed = records.aggregate(q=Sum("quantity"))["q"]
        assert billed == line.quantity, (line.description, billed, line.quantity)
        first = records.select_related("meter").first()
        assert first is not None
        found[(invoice.tenant.display_name, first.meter.code, first.dimension_value)] += billed
    return found


def test_a_month_in_the_life(stack, smtp_sink, browser: Browser, figures):
    stopwatch = Stopwatch()
    today = timezone.localdate()
    month = generation.Period.previous_month(today)  # what beat's run on the 1st bills
    following = generation.Period.month(f"{today:%Y-%m}")
    world = build_world(month)
    tenants = world.tenants
    meters = {m.pk: m for m in Meter.objects.all()}

    web = stack.web()
    web.argv = [
        "tests.e2e.scenario.wsgi:application" if a == "billing_portal.wsgi:application" else a
        for a in web.argv
    ]
    web.start()
    # The drafts' grace period is a setting: none, so the first sweep finalizes them.
    worker = stack.worker(concurrency=2, DRAFT_GRACE_DAYS="0").start()
    beat = stack.beat(EMAIL_OUTBOX_FLUSH_SECONDS="15").start()
    # The later mornings, and the night of the next month's run, each on a worker whose clock
    # stands there (started now, so that they are up when their day comes). Initech's due date
    # is three days after today's issue; it is more than 15 days late (OVERDUE_GRACE_DAYS) on the
    # sixteenth day after it.
    due = today + datetime.timedelta(days=INITECH.terms)
    mornings = {
        "due": (due, S.SENT),
        "overdue-1": (due + datetime.timedelta(days=1), S.OVERDUE),
        "overdue-3": (due + datetime.timedelta(days=16), S.OVERDUE),
    }
    moved = {
        step: MovedWorker.start(stack, at(day), f"worker-{step}", db, DRAFT_GRACE_DAYS="0")
        for db, (step, (day, _)) in enumerate(mornings.items(), start=1)
    }
    first_of_next = at(following.end + datetime.timedelta(days=1), datetime.time(2))
    next_run = MovedWorker.start(stack, first_of_next, "worker-next-month", len(moved) + 1)
    stack.wait_for_web(web)
    assert wait_until(lambda: "ready." in worker.log_text(), timeout=90, interval=0.2), (
        worker.log_tail()
    )
    tasks = Tasks(stack.env["REDIS_URL"])
    console = ConsoleLog()
    desks = journeys.Desks(browser, stack.site_url, console)

    stopwatch.lap("start")

    # --- A month of usage over the API ------------------------------------------------------
    metering = Metering(stack.site_url, world.token)
    posted: Counter[Key] = Counter()
    repeats = distinct = 0
    for customer in CUSTOMERS:
        usage = month_of_usage(customer, tenants[customer.name], month)
        posted += usage.totals()
        distinct += len(usage.records)
        batches = weekly_batches(usage.records)
        for batch in batches[:-1]:
            assert metering.post(batch) == {"accepted": len(batch), "duplicates": 0, "rejected": []}
        # No answer reached the agent for the second week: it sends the batch again.
        again = batches[1]
        assert metering.post(again) == {"accepted": 0, "duplicates": len(again), "rejected": []}
        # Its last batch repeats three records of the first week, and one of its own.
        last = batches[-1] + batches[0][:3] + batches[-1][:1]
        assert metering.post(last) == {
            "accepted": len(batches[-1]),
            "duplicates": 4,
            "rejected": [],
        }
        repeats += len(again) + 4
    assert UsageRecord.objects.count() == metering.accepted == distinct
    assert metering.duplicates == repeats

    stopwatch.lap("usage")

    # --- The monthly run, as beat sends it on the 1st ---------------------------------------
    tasks.send(RUN)
    drafted = wait_until(lambda: month_invoices(month).count() >= len(CUSTOMERS), 180, 0.5)
    assert drafted, f"{month_invoices(month).count()} drafts:\n{worker.log_tail()}"
    assert UsageRun.objects.get().period_start == month.start
    invoices = {i.tenant.display_name: i for i in month_invoices(month).select_related("tenant")}
    assert sorted(invoices) == sorted(c.name for c in CUSTOMERS)  # one each, the suspended too
    assert {i.status for i in invoices.values()} == {S.DRAFT}

    # Records of the month that arrive after its run: three days of a forgotten VM, and two
    # records the run billed already.
    late = late_usage(ACME, tenants[ACME.name], month)
    billed_before = month_of_usage(ACME, tenants[ACME.name], month).records[:2]
    assert metering.post(late.records + billed_before) == {
        "accepted": len(late.records),
        "duplicates": 2,
        "rejected": [],
    }
    repeats += 2

    stopwatch.lap("run")

    # --- The grace period passes: the morning sweep finalizes the drafts --------------------
    # Two sweeps at once (a duplicated delivery, two pool processes): each draft finalized once.
    assert run_sweep_twice(worker, tasks)["finalized"] == len(CUSTOMERS)
    for name, invoice in invoices.items():
        invoice.refresh_from_db()
        customer = next(c for c in CUSTOMERS if c.name == name)
        assert invoice.status == S.PENDING, name
        assert invoice.issue_date == today
        assert invoice.due_date == today + datetime.timedelta(days=customer.terms)
        # The month's quantities are what was posted, less every repeat and the late batch.
        assert usage_quantities(invoice, meters) == Counter(
            {k: v for k, v in posted.items() if k[0] == name}
        ), name
        assert invoice.lines.filter(description="Standard plan - monthly fee").count() == 1
    numbers = sorted(i.number for i in invoices.values())
    assert [n[-5:] for n in numbers] == [f"{n:05d}" for n in range(1, len(CUSTOMERS) + 1)]
    # GST as the law has it: CGST + SGST inside Maharashtra, IGST elsewhere (the UT and the
    # unregistered customer included); the unregistered one has no GSTIN on its invoice.
    acme, globex, initech = invoices[ACME.name], invoices[GLOBEX.name], invoices[INITECH.name]
    assert (acme.intra_state, acme.igst) == (True, ZERO)
    assert acme.cgst == acme.sgst > 0
    for name, invoice in invoices.items():
        if name != ACME.name:
            assert (invoice.intra_state, invoice.cgst, invoice.sgst) == (False, ZERO, ZERO), name
            assert invoice.igst > 0, name
    assert (initech.customer["gstin"], initech.place_of_supply) == ("", INITECH.state)

    stopwatch.lap("finalize")

    # --- admin approves and sends each invoice in the browser -------------------------------
    with desks.signed_in("admin") as page:
        for invoice in sorted(invoices.values(), key=lambda i: i.number):
            journeys.approve_and_send(page, invoice)
        journeys.screenshot(page, "month-admin-sent")
    sent = {i.number: i for i in month_invoices(month)}
    assert {i.status for i in sent.values()} == {S.SENT}
    assert {i.approved_by_id for i in sent.values()} == {world.admin.pk}

    def invoice_mails():
        return [m for m in smtp_sink.received() if subject(m).startswith("Tax invoice ")]

    delivered = wait_until(lambda: len(invoice_mails()) >= len(sent), 180, 0.5)
    assert delivered, f"{len(invoice_mails())} of {len(sent)} invoices mailed:\n{stack.logs()}"
    mailed: Counter[str] = Counter()
    for message in invoice_mails():
        number = subject(message).split()[2]
        invoice = sent[number]
        mailed[number] += 1
        assert str(message["To"]) == invoice.tenant.billing_email
        [(filename, content_type, content)] = attachments(message)
        assert (filename, content_type) == (f"{number.replace('/', '-')}.pdf", "application/pdf")
        assert content.startswith(b"%PDF-")
        text = pdf_text(content)
        assert number in text, number
        assert invoice.tenant.legal_name in text, number
    assert mailed == Counter({number: 1 for number in sent})

    stopwatch.lap("send")

    # --- Customers pay through Pay Now: Acme in full, Globex a part -------------------------
    acme.refresh_from_db()
    globex.refresh_from_db()
    acme_paid = acme.balance_due
    globex_paid = (globex.balance_due * Decimal("0.4")).quantize(Decimal("1"))
    with desks.signed_in(ACME.owner) as page:
        journeys.pay_now(page, acme, acme_paid, "anita@okhdfc", "month-acme-paid")
    with desks.signed_in(GLOBEX.owner) as page:
        journeys.pay_now(page, globex, globex_paid, "accounts@okaxis", "month-globex-part-paid")
    # The sandbox delivers each event twice, the batch backwards and then backwards again.
    webhooks_done = wait_until(
        lambda: (
            SandboxWebhookEvent.objects.exists()
            and not SandboxWebhookEvent.objects.exclude(deliveries=2).exists()
            and not SandboxWebhookEvent.objects.exclude(last_status=200).exists()
        ),
        120,
        0.5,
    )
    assert webhooks_done, list(SandboxWebhookEvent.objects.values("event", "deliveries"))
    events = SandboxWebhookEvent.objects.count()
    # Each payment's events (authorized, captured, order paid) once per payment in the sandbox,
    # stored once each on our side however often they came.
    kinds = Counter(SandboxWebhookEvent.objects.values_list("event", flat=True))
    assert kinds["payment.captured"] == 2
    assert set(kinds.values()) == {2}
    assert WebhookEvent.objects.count() == events
    assert set(WebhookEvent.objects.values_list("deliveries", flat=True)) == {2}
    assert not WebhookEvent.objects.filter(processed_at=None).exists()
    for invoice, amount, status in (
        (acme, acme_paid, S.PAID),
        (globex, globex_paid, S.PARTIALLY_PAID),
    ):
        invoice.refresh_from_db()
        [payment] = Payment.objects.filter(invoice=invoice)
        assert (payment.status, payment.amount, payment.method) == ("captured", amount, "razorpay")
        assert (invoice.status, invoice.amount_paid) == (status, amount)
        assert invoice.balance_due == invoice.total - amount
        assert invoice.events.filter(type=InvoiceEvent.Type.PAYMENT).count() == 1
    receipts_in = wait_until(
        lambda: sum(subject(m).startswith("Payment received") for m in smtp_sink.received()) >= 2,
        60,
        0.25,
    )
    assert receipts_in, stack.logs()

    stopwatch.lap("pay")

    # --- The mornings after: reminders once per step, overdue, suspended --------------------
    reminders_to = initech.tenant.billing_email

    def initech_reminders() -> list[str]:
        return [
            s
            for s in subjects(smtp_sink.received(), reminders_to)
            if s.startswith(("Reminder:", "Overdue:"))
        ]

    # Day 0 (today, the real-time worker): three days before Initech's due date.
    assert run_sweep_twice(worker, tasks)["reminders"] == 1
    assert wait_until(lambda: len(initech_reminders()) == 1, 60, 0.25), stack.logs()
    assert initech.due_date == due
    for n, (step, (morning, status)) in enumerate(mornings.items(), start=2):
        sweeper = moved[step].ready()
        swept = run_sweep_twice(sweeper, moved[step].tasks)
        assert swept["reminders"] == 1, morning
        assert swept["marked_overdue"] == int(step == "overdue-1"), morning
        assert wait_until(lambda n=n: len(initech_reminders()) >= n, 60, 0.25), sweeper.log_tail()
        if step == "overdue-3":
            assert wait_until(
                lambda: any("suspended" in s for s in subjects(smtp_sink.received(), "asha@")),
                60,
                0.25,
            ), sweeper.log_tail()
        moved[step].stop()
        initech.refresh_from_db()
        assert initech.status == status, morning
        assert initech.emails.filter(kind=OutboundEmail.Kind.REMINDER).latest("pk").step == step
    steps = list(
        initech.emails.filter(kind=OutboundEmail.Kind.REMINDER)
        .order_by("pk")
        .values_list("step", flat=True)
    )
    assert steps == ["before-due", "due", "overdue-1", "overdue-3"]
    sent_reminders = initech_reminders()
    assert len(sent_reminders) == 4, sent_reminders
    assert [s.split(":")[0] for s in sent_reminders] == [
        "Reminder",
        "Reminder",
        "Overdue",
        "Overdue",
    ]
    # Only Initech was reminded: the others' due dates are weeks away, or they paid.
    assert (
        not OutboundEmail.objects.filter(kind=OutboundEmail.Kind.REMINDER)
        .exclude(invoice=initech)
        .exists()
    )
    statuses = {name: Tenant.objects.get(pk=t.pk) for name, t in tenants.items()}
    assert (statuses[INITECH.name].status, statuses[INITECH.name].auto_suspended) == (
        Tenant.Status.SUSPENDED,
        True,
    )
    assert (statuses[STARK.name].status, statuses[STARK.name].auto_suspended) == (
        Tenant.Status.SUSPENDED,
        False,
    )
    assert {statuses[c.name].status for c in CUSTOMERS if c not in (INITECH, STARK)} == {
        Tenant.Status.ACTIVE
    }
    [notice] = [
        m for m in smtp_sink.received() if subject(m).startswith(f"{INITECH.name} suspended")
    ]
    assert str(notice["To"]) == world.admin.email

    stopwatch.lap("mornings")

    # --- finance exports the month: the files add up to the invoices and the money ----------
    final = {i.number: i for i in month_invoices(month)}
    assert {i.tenant.display_name: i.status for i in final.values()} == {
        ACME.name: S.PAID,
        GLOBEX.name: S.PARTIALLY_PAID,
        HOOLI.name: S.SENT,  # due in 30 days
        INITECH.name: S.OVERDUE,
        STARK.name: S.SENT,
    }
    received = Payment.objects.filter(status="captured").aggregate(s=Sum("amount"))["s"]
    assert received == acme_paid + globex_paid
    db_totals = {
        "Total": sum(i.total for i in final.values()),
        "Paid": sum(i.amount_paid for i in final.values()),
        "Balance due": sum(i.balance_due for i in final.values()),
    }
    assert db_totals["Paid"] == received
    filters = (
        "?date_field=period_start&period=custom"
        f"&from={month.start:%Y-%m-%d}&to={month.end:%Y-%m-%d}"
    )
    with desks.signed_in("finance") as page:
        page.goto(f"/invoices/{filters}")
        journeys.screenshot(page, "month-finance-list")
        xlsx = journeys.download(page, "XLSX")
        csv_bytes = journeys.download(page, "CSV")
        payments_export = page.request.get("/payments/export?format=csv")
        assert payments_export.ok, payments_export.status
        payments_csv = payments_export.body()

    sheet = load_workbook(io.BytesIO(xlsx))["Invoices"]
    table = list(sheet.iter_rows(values_only=True))
    header, body, totals = table[0], table[1:-1], table[-1]
    assert sorted(r[0] for r in body) == sorted(final)
    assert str(totals[0]).startswith("Total of issued invoices")
    for column, expected in db_totals.items():
        index = header.index(column)
        assert Decimal(str(totals[index])).quantize(Decimal("0.01")) == expected, column
        for row in body:
            value = Decimal(str(row[index])).quantize(Decimal("0.01"))
            assert value == getattr(final[row[0]], FIELDS[column]), (row[0], column)

    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
    assert sorted(r["Number"] for r in rows) == sorted(final)
    for column, expected in db_totals.items():
        assert sum(Decimal(r[column]) for r in rows) == expected, column
        for r in rows:
            assert Decimal(r[column]) == getattr(final[r["Number"]], FIELDS[column])

    stopwatch.lap("export")

    # The payments export: the money received, payment by payment.
    paid_rows = list(csv.DictReader(io.StringIO(payments_csv.decode("utf-8-sig"))))
    assert sorted((r["Invoice number"], Decimal(r["Amount (INR)"])) for r in paid_rows) == sorted(
        [(acme.number, acme_paid), (globex.number, globex_paid)]
    )
    assert {r["Status"] for r in paid_rows} == {"Captured"}
    assert sum(Decimal(r["Net received (INR)"]) for r in paid_rows) == received

    # --- The next month's run bills the late batch, on a line naming its month --------------
    # The night of the 1st: beat's run, on the worker whose clock stands there, bills the month
    # that has just ended (the one after the scenario's month).
    night = next_run.ready()
    next_run.tasks.send(RUN)
    drafted = wait_until(lambda: month_invoices(following).count() >= len(CUSTOMERS), 180, 0.5)
    assert drafted, night.log_tail()
    next_run.stop()
    tasks.close()
    nxt = {i.tenant.display_name: i for i in month_invoices(following).select_related("tenant")}
    assert sorted(nxt) == sorted(c.name for c in CUSTOMERS)
    late_lines = InvoiceLine.objects.filter(
        invoice__in=nxt.values(), description__contains="received late"
    )
    [late_line] = late_lines
    vcpu = Meter.objects.get(code="vcpu_hours")
    assert late_line.invoice == nxt[ACME.name]
    assert late_line.description == f"{vcpu.name} (usage of {month.start:%b %Y}, received late)"
    assert late_line.period_start == month.start
    assert late_line.quantity == sum(late.totals().values())
    assert sorted(
        generation.line_records(late_line).values_list("idempotency_key", flat=True)
    ) == sorted(str(r["idempotency_key"]) for r in late.records)
    # Every record stored is on exactly one invoice line.
    billed: list[int] = []
    for line in InvoiceLine.objects.filter(kind=InvoiceLine.Kind.USAGE):
        billed += list(generation.line_records(line).values_list("pk", flat=True))
    assert sorted(billed) == sorted(UsageRecord.objects.values_list("pk", flat=True))

    stopwatch.lap("next run")

    # --- Everything went out once, and the processes are still up ---------------------------
    assert [s.running for s in (web, worker, beat)] == [True, True, True]
    # Beat was at work too: its outbox flush (every 15 s here) reached the worker.
    assert any(
        e.get("task") == "invoices.tasks.flush_outbox" for e in json_lines(worker.log_text())
    )
    assert not console.csp_violations, console.csp_violations
    assert not console.page_errors, console.page_errors
    mail = smtp_sink.received()
    outbox = OutboundEmail.objects.filter(status=OutboundEmail.Status.SENT)
    assert len(mail) == outbox.count() == len(sent) + 2 + 4 + 1
    assert not OutboundEmail.objects.exclude(status=OutboundEmail.Status.SENT).exists()
    # Each outbox row (one per invoice, kind and step) reached the SMTP server exactly once.
    assert Counter((str(m["To"]), subject(m)) for m in mail) == Counter(
        (", ".join(e.to), e.subject) for e in outbox
    )
    invoices_made = Invoice.objects.count()
    applied = Payment.objects.filter(status="captured", applied_at__isnull=False).count()
    figures(
        f"{UsageRecord.objects.count()} usage records ingested in {metering.posts} API batches "
        f"({repeats} duplicates stored once, {len(late.records)} late), {invoices_made} invoices "
        f"generated, {len(mail)} emails sent ({len(sent)} invoices with their PDF, "
        f"{len(sent_reminders)} reminders), {applied} payments applied "
        f"({WebhookEvent.objects.count()} webhooks, each delivered twice), "
        f"in {stopwatch.total:.0f} s"
    )
    figures(f"seconds per phase: {stopwatch}")


FIELDS = {"Total": "total", "Paid": "amount_paid", "Balance due": "balance_due"}
