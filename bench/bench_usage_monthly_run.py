"""The monthly run over every tenant, beside one hand-written SQL aggregate of the same records.

The records are the import benchmark's (1,000,000 over 1,000 tenants; 10,000,000 over 10,000 with
``BENCH_SCALE=large``), loaded by a raw COPY when the table does not hold them. Each round starts
from unbilled records and no invoices (the last round's are deleted with the ranges of records
their lines hold, the tenants' cursors are put back where the previous month's run leaves them,
then ``VACUUM ANALYZE``), times the baseline, then
makes the run as the portal does every month: beat's task sent to a Celery worker on Redis that
is already running, timed until every tenant's draft is committed. The same run by the command
(``manage.py generate_invoices --period 2026-10 --processes N``, start-ups included) is timed
after another reset, for reference.

The baseline: one GROUP BY over the records the run bills (every record up to the run's watermark
with a window before the period's end: none is billed yet) per tenant, meter, dimension value and
month, as the invoice lines are; and the same without the month, as the issue words it. The run's
result is checked against it before its time is believed: one draft per tenant, one usage line per
group, each line's quantity the sum of the records its ranges hold, and per (tenant, meter,
dimension, month) the held records' count and quantity equal to the aggregate's.

Goal (issue 4): the run within 3 x the SQL aggregate, at least 500 invoices per second, its peak
memory under 300 MB whatever the size.

Run: ``make bench`` (or ``make bench-large``), or ``.venv/bin/python -m bench monthly_run``.
"""

from __future__ import annotations

import datetime
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bench import _usage_common as common
from bench import _usage_data as data

MODULE = "bench_usage_monthly_run"
IST = ZoneInfo("Asia/Kolkata")
RATIO_GOAL = 3.0
RATE_GOAL = 500  # invoices per second
BASELINE_RUNS = 3
# The run drafts its chunks in as many processes as there are cores, as that many Celery
# workers would; its aggregate is one query either way.
PROCESSES = os.cpu_count() or 1
# The workers' broker: a Redis database of its own, emptied before the worker starts.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
RUN_TIMEOUT_S = 1800
POLL_S = 0.02  # how often the count of drafts is read while the workers run
WORKER_LOG = common.LOGS / "monthly-run-worker.log"
AGGREGATE_TASK_RE = re.compile(
    r"Task invoices\.tasks\.generate_monthly_invoices\[[^\]]+\] succeeded in ([0-9.]+)s"
)
CHUNK_TASK_RE = re.compile(
    r"Task invoices\.tasks\.generate_invoices_chunk\[[^\]]+\] succeeded in ([0-9.]+)s"
)
CREATED_RE = re.compile(r"(\d+) drafts created, (\d+) skipped")

AGGREGATE_SQL = """
SELECT tenant_id, meter_id, dimension_value,
    date_trunc('month', window_start AT TIME ZONE 'Asia/Kolkata') AS month,
    sum(quantity), count(*)
FROM usage_usagerecord
WHERE id <= %(upto)s AND window_start < %(end)s
GROUP BY tenant_id, meter_id, dimension_value, month
"""
AGGREGATE_3_SQL = """
SELECT tenant_id, meter_id, dimension_value, sum(quantity), count(*)
FROM usage_usagerecord
WHERE id <= %(upto)s AND window_start < %(end)s
GROUP BY tenant_id, meter_id, dimension_value
"""
# The records each of the period's lines holds: those its invoice's ranges hold of the line's
# meter, dimension value and days (generation.line_records).
HELD = """
FROM usage_usagerange b
JOIN invoices_invoice i ON i.id = b.invoice_id
JOIN usage_usagerecord r ON r.tenant_id = b.tenant_id
    AND (b.meter_id IS NULL OR (r.meter_id = b.meter_id AND r.dimension_value = b.dimension_value))
    AND r.window_start >= b.window_from AND r.window_start < b.window_to
    AND r.id > b.after_id AND r.id <= b.upto_id
JOIN invoices_invoiceline l ON l.invoice_id = i.id AND l.usage_meter_id = r.meter_id
    AND l.usage_dimension = r.dimension_value
    AND l.period_start = date_trunc('month', r.window_start AT TIME ZONE 'Asia/Kolkata')::date
WHERE i.period_start = %(start)s AND i.kind = 'subscription' AND i.tenant_id = b.tenant_id
"""
BILLED_SQL = f"""
SELECT r.tenant_id, r.meter_id, r.dimension_value,
    date_trunc('month', r.window_start AT TIME ZONE 'Asia/Kolkata') AS month,
    sum(r.quantity), count(*)
{HELD}
GROUP BY 1, 2, 3, 4
"""
LINE_MISMATCH_SQL = f"""
SELECT count(*) FROM (
    SELECT l.id FROM invoices_invoiceline l
    JOIN invoices_invoice i ON i.id = l.invoice_id
    LEFT JOIN (SELECT l.id AS line_id, sum(r.quantity) AS quantity {HELD} GROUP BY l.id) h
        ON h.line_id = l.id
    WHERE i.period_start = %(start)s AND l.kind = 'usage'
        AND l.quantity IS DISTINCT FROM h.quantity
) AS wrong
"""  # noqa: S608 - constant text


@dataclass
class Round:
    baseline_s: list[float] = field(default_factory=list)
    baseline3_s: list[float] = field(default_factory=list)
    # The run as the portal makes it: beat's task on Celery workers already running.
    run_s: float = 0.0
    run_cpu_s: float = 0.0
    rss_mb: float = 0.0
    # From the worker's log: the task that takes the watermark and the aggregate, and the chunks.
    aggregate_task_s: float = 0.0
    chunk_s: list[float] = field(default_factory=list)
    # The same run by the command from a shell (its start-ups included), for reference.
    command_s: float = 0.0
    command_cpu_s: float = 0.0
    command_rss_mb: float = 0.0
    invoices: int = 0
    lines: int = 0
    groups: int = 0
    records: int = 0

    @property
    def sql_s(self) -> float:
        return common.median(self.baseline_s)

    @property
    def sql3_s(self) -> float:
        return common.median(self.baseline3_s)

    @property
    def ratio(self) -> float:
        return self.run_s / min(self.sql_s, self.sql3_s)

    @property
    def rate(self) -> float:
        return self.invoices / self.run_s


def run() -> None:
    s = common.bootstrap(MODULE)
    if s is not None:
        _main(s)


def _period() -> tuple[datetime.date, datetime.datetime]:
    from invoices.generation import Period

    period = Period.month(data.PERIOD)
    return period.start, period.end_moment


def _ensure_records(s: data.Scale) -> str:
    conn = common.connect(s)
    if data.records_marked(conn, s.records):
        return "left by the import benchmark (the same rows)"
    print(f"-- loading {s.records:,} records by COPY", flush=True)
    path = data.copy_file(s, s.records)
    data.truncate(conn)
    seconds = data.raw_copy(conn, path)
    data.mark_records(conn, s.records, data.checksum(conn))
    return f"loaded by COPY in this run ({seconds:.0f} s)"


def _reset(start: datetime.date) -> None:
    """No invoice for the period and every record unbilled, the tables vacuumed: each round
    starts alike (the history of earlier months stays, and the tenants' cursors are where the
    previous month's run left them)."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE usage_onetimecharge SET invoice_line_id = NULL")
        cursor.execute("DELETE FROM usage_usagerange")
        cursor.execute("DELETE FROM usage_usagecursor")
        # Each tenant's cursor as September's run left it (every tenant was billed for the
        # months before: see data.ensure_history): those months closed, and none of these
        # records billed (they all arrived after that run's watermark).
        cursor.execute(
            "INSERT INTO usage_usagecursor (tenant_id, upto_id, billed_before)"
            " SELECT id, 0, %s FROM tenants_tenant",
            [datetime.datetime.combine(start, datetime.time(), IST)],
        )
        cursor.execute("DELETE FROM usage_usagerungroup")
        cursor.execute("DELETE FROM usage_usagerun")
        # The benchmark's database holds nothing else that refers to the run's drafts.
        drafts = "SELECT id FROM invoices_invoice WHERE period_start = %s"
        for table in ("invoices_invoiceline", "invoices_invoiceevent", "invoices_outboundemail"):
            cursor.execute(f"DELETE FROM {table} WHERE invoice_id IN ({drafts})", [start])  # noqa: S608
        cursor.execute("DELETE FROM invoices_invoice WHERE period_start = %s", [start])
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM (ANALYZE) usage_usagerecord, usage_onetimecharge, invoices_invoice,"
            " invoices_invoiceline, invoices_invoiceevent, usage_usagerange, usage_usagecursor,"
            " usage_usagerun, usage_usagerungroup"
        )
        cursor.execute("CHECKPOINT")
    print(f"   reset in {time.perf_counter() - started:.0f} s", flush=True)


def _baseline(upto: int, end: datetime.datetime) -> tuple[float, float, dict]:
    from django.db import connection

    params = {"end": end, "upto": upto}
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(AGGREGATE_SQL, params)
        rows = cursor.fetchall()
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        cursor.execute(AGGREGATE_3_SQL, params)
        cursor.fetchall()
        seconds3 = time.perf_counter() - started
    groups = {(t, m, d, month): (q, n) for t, m, d, month, q, n in rows}
    return seconds, seconds3, groups


def _main(s: data.Scale) -> None:
    from django.db import connection

    from tenants.models import Tenant
    from usage.models import UsageRecord

    records_from = _ensure_records(s)
    history = data.ensure_history(common.connect(s))
    start, end = _period()
    env = {**os.environ, **common.bench_env(s)}
    tenants = Tenant.objects.count()
    load_at_start = common.loadavg()
    rounds: list[Round] = []
    worker = _start_worker(env)
    try:
        for number in range(s.runs):
            print(f"-- round {number + 1} of {s.runs}", flush=True)
            _reset(start)
            result = Round()
            # Every record is stored before the run starts: its watermark will be the largest id.
            upto = UsageRecord.objects.order_by("-id").values_list("id", flat=True).first() or 0
            _baseline(upto, end)  # warm-up: both start from a warm cache
            for _ in range(BASELINE_RUNS):
                seconds, seconds3, groups = _baseline(upto, end)
                result.baseline_s.append(seconds)
                result.baseline3_s.append(seconds3)
            print(
                f"   SQL aggregate {result.sql_s:.2f} s ({len(groups):,} groups), "
                f"without the month {result.sql3_s:.2f} s",
                flush=True,
            )
            cpu_before = common.tree_cpu_seconds(worker.pid)
            log_from = WORKER_LOG.stat().st_size
            result.run_s = _run_on_workers(worker, tenants, start)
            result.aggregate_task_s, result.chunk_s = _task_times(log_from, tenants)
            result.run_cpu_s = common.tree_cpu_seconds(worker.pid) - cpu_before
            result.rss_mb = common.tree_peak_rss_mb(worker.pid)
            result.invoices = tenants
            _verify(result, groups, tenants, start)
            print(
                f"   run on the workers {result.run_s:.1f} s (CPU {result.run_cpu_s:.1f} s): "
                f"{result.invoices:,} drafts, {result.rate:,.0f}/s, "
                f"x{result.ratio:.1f} the SQL, peak {result.rss_mb:.0f} MB",
                flush=True,
            )
            _reset(start)
            measured = common.run_measured(
                common.manage(
                    "generate_invoices", "--period", data.PERIOD, "--processes", str(PROCESSES)
                ),
                env=env,
                name=f"monthly-run-{number}",
            )
            assert measured.returncode == 0, measured.stderr_path.read_text()[-3000:]
            found = CREATED_RE.search(measured.stdout)
            assert found, measured.stdout
            assert int(found.group(1)) == tenants, measured.stdout
            result.command_s, result.command_rss_mb = measured.seconds, measured.peak_rss_mb
            result.command_cpu_s = measured.cpu_s
            _verify(result, groups, tenants, start)
            rounds.append(result)
            print(
                f"   the command {result.command_s:.1f} s (CPU {result.command_cpu_s:.1f} s), "
                f"peak {result.command_rss_mb:.0f} MB",
                flush=True,
            )
    finally:
        _stop_worker(worker)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_pretty(pg_table_size('usage_usagerecord')),"
            " pg_size_pretty(pg_indexes_size('usage_usagerecord'))"
        )
        heap, indexes = cursor.fetchone()
    size = f"{heap} (indexes {indexes})"
    _report(s, rounds, load_at_start, records_from, tenants, size, history)


def _start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A Celery worker on Redis with one pool process per core, as in production, ready before
    any clock starts (workers run all month; the run does not wait for them to start)."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # no message left from an earlier, failed run
    common.LOGS.mkdir(parents=True, exist_ok=True)
    log_path = WORKER_LOG
    worker = subprocess.Popen(  # noqa: S603 - this interpreter, the project's Celery app
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "billing_portal",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(PROCESSES),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            "bench-monthly@%h",
        ],
        cwd=common.ROOT,
        env={**env, "REDIS_URL": REDIS_URL, "CELERY_TASK_ALWAYS_EAGER": "false"},
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while b" ready." not in log_path.read_bytes():
        assert worker.poll() is None, f"the worker exited: see {log_path}"
        assert time.monotonic() < deadline, f"the worker was not ready in 120 s: see {log_path}"
        time.sleep(0.2)
    return worker


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def _run_on_workers(worker: subprocess.Popen[bytes], tenants: int, start: datetime.date) -> float:
    """Queue beat's task for the period and wait until every tenant has its draft: the seconds
    from the message sent to the last chunk committed."""
    from celery import Celery
    from django.db import connection

    sender = Celery("bench-sender", broker=REDIS_URL, set_as_current=False)
    count = (
        "SELECT count(*) FROM invoices_invoice WHERE period_start = %s AND kind = 'subscription'"
    )
    started = time.perf_counter()
    sender.send_task("invoices.tasks.generate_monthly_invoices", args=[data.PERIOD])
    deadline = started + RUN_TIMEOUT_S
    with connection.cursor() as cursor:
        while True:
            cursor.execute(count, [start])
            if cursor.fetchone()[0] >= tenants:
                break
            assert worker.poll() is None, "the worker exited during the run"
            assert time.perf_counter() < deadline, f"the run did not finish in {RUN_TIMEOUT_S} s"
            time.sleep(POLL_S)
    seconds = time.perf_counter() - started
    sender.close()
    return seconds


def _task_times(log_from: int, tenants: int) -> tuple[float, list[float]]:
    """The seconds the worker's log gives the round's aggregate task and each of its chunks
    (Celery logs a task's time as it acknowledges it, a moment after its commit)."""
    from django.conf import settings

    chunks = -(-tenants // settings.INVOICE_RUN_CHUNK)
    deadline = time.monotonic() + 10
    while True:
        with WORKER_LOG.open("rb") as log:
            log.seek(log_from)
            text = log.read().decode(errors="replace")
        aggregate = [float(x) for x in AGGREGATE_TASK_RE.findall(text)]
        chunk = [float(x) for x in CHUNK_TASK_RE.findall(text)]
        if (aggregate and len(chunk) >= chunks) or time.monotonic() > deadline:
            return (aggregate[-1] if aggregate else 0.0), chunk
        time.sleep(0.1)


def _verify(result: Round, groups: dict, tenants: int, start: datetime.date) -> None:
    """The run billed exactly what the aggregate found, each line the records it holds."""
    from django.db import connection

    from invoices.models import Invoice, InvoiceLine

    params = {"start": start}
    with connection.cursor() as cursor:
        # Not timed. Statistics from before the run (no draft of the period) plan these joins
        # as a loop per record: minutes at 10M records, where fresh ones take seconds.
        cursor.execute("ANALYZE invoices_invoice, invoices_invoiceline, usage_usagerange")
        cursor.execute(BILLED_SQL, params)
        billed = {(t, m, d, month): (q, n) for t, m, d, month, q, n in cursor.fetchall()}
        cursor.execute(LINE_MISMATCH_SQL, params)
        (wrong_lines,) = cursor.fetchone()
    drafts = Invoice.objects.filter(period_start=start, kind="subscription")
    result.lines = InvoiceLine.objects.filter(invoice__in=drafts, kind="usage").count()
    result.groups = len(groups)
    result.records = sum(n for _, n in groups.values())
    assert groups, "the aggregate found nothing to bill"
    assert result.invoices == tenants == drafts.count(), (result.invoices, tenants)
    assert result.lines == len(groups), (result.lines, len(groups))
    assert wrong_lines == 0, f"{wrong_lines} usage lines differ from their records' sum"
    assert billed == groups, "the billed records differ from the SQL aggregate"


def _report(
    s: data.Scale,
    rounds: list[Round],
    load_at_start: str,
    records_from: str,
    tenants: int,
    size: str,
    history: str,
) -> None:
    run_s = common.median([r.run_s for r in rounds])
    sql_s = common.median([r.sql_s for r in rounds])
    sql3_s = common.median([r.sql3_s for r in rounds])
    ratio = run_s / min(sql_s, sql3_s)
    invoices = rounds[0].invoices
    rate = invoices / run_s
    peak = max(max(r.rss_mb, r.command_rss_mb) for r in rounds)
    command_s = common.median([r.command_s for r in rounds])
    from django.conf import settings

    aggregate_s = common.median([r.aggregate_task_s for r in rounds])
    chunk_total_s = common.median([sum(r.chunk_s) for r in rounds])
    chunk_median_s = common.median([x for r in rounds for x in r.chunk_s] or [0.0])
    chunks = len(rounds[0].chunk_s)
    goals = {
        f"within {RATIO_GOAL:g} x the SQL aggregate, the faster of the two": (
            ratio <= RATIO_GOAL,
            f"{ratio:.1f} x; {run_s / sql_s:.1f} x the aggregate by month",
        ),
        f"at least {RATE_GOAL} invoices/s": (rate >= RATE_GOAL, f"{rate:,.0f}/s"),
        f"peak memory under {common.MEMORY_LIMIT_MB} MB": (
            peak < common.MEMORY_LIMIT_MB,
            f"{peak:,.0f} MB",
        ),
    }
    met = [f"{goal} (**{value}**)" for goal, (ok, value) in goals.items() if ok]
    missed = [f"{goal} (**{value}**)" for goal, (ok, value) in goals.items() if not ok]
    summary = (
        "meets every goal: " + "; ".join(met)
        if not missed
        else "**misses** " + "; ".join(missed) + (("; meets " + "; ".join(met)) if met else "")
    )
    table = [
        "| Round | SQL aggregate s (by month / without) | Groups | Records billed | Run s "
        "| Workers' CPU s | Invoices | Invoices/s | Run / SQL | Workers' peak RSS MB "
        "| The command s (CPU s, peak MB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for number, r in enumerate(rounds, 1):
        table.append(
            f"| {number} | {r.sql_s:,.2f} / {r.sql3_s:,.2f} | {r.groups:,} | {r.records:,} "
            f"| {r.run_s:,.2f} | {r.run_cpu_s:,.1f} | {r.invoices:,} | {r.rate:,.0f} "
            f"| {r.ratio:.1f} | {r.rss_mb:,.0f} "
            f"| {r.command_s:,.1f} ({r.command_cpu_s:,.1f}, {r.command_rss_mb:,.0f}) |"
        )
    table.append(
        f"| **median** | **{sql_s:,.2f} / {sql3_s:,.2f}** | | | **{run_s:,.2f}** | | "
        f"**{invoices:,}** | **{rate:,.0f}** | **{ratio:.1f}** | **{peak:,.0f}** (max of both) "
        f"| **{command_s:,.1f}** |"
    )
    title = "Monthly run" + ("" if s.name == "standard" else f" ({s.name})")
    lines = [
        f"## {title} (`bench/{MODULE}.py`)",
        "",
        f"Run {common.now_ist()} IST, `BENCH_SCALE={s.name}`; {summary}.",
        "",
        "### Machine",
        "",
        *common.machine(load_at_start),
        "",
        "### Data set",
        "",
        f"- Database `{data.db_name(s)}`: {tenants:,} tenants on 3 plans (per-unit, graduated "
        "and volume prices, free allowances, GPU prices by type); one in twenty subscribed "
        "mid-period (a prorated fee), one in ten with its own vCPU price, one in twenty with a "
        "one-time charge.",
        f"- {s.records:,} usage records, {records_from}: the billed month "
        f"({data.PERIOD}) 97 %, the month before 2 % (late usage, billed on lines naming their "
        "month), the month after 1 % (not billed); half spread evenly over the tenants, half "
        f"skewed towards a few big ones. Table `usage_usagerecord`: {size}.",
        f"- The {data.HISTORY_MONTHS} months before, already billed: {history} (a portal in "
        "use; with empty invoice tables analyzed as empty, PostgreSQL plans the commit's "
        "foreign-key checks on invoice lines as sequential scans and the run slows down "
        "quadratically, which no portal in use would see).",
        "",
        "### Method",
        "",
        "- The run, as the portal makes it every month: beat's task "
        "(`invoices.tasks.generate_monthly_invoices`) sent to a Celery worker on Redis with "
        f"{PROCESSES} pool processes (one per core; DEBUG off), started and ready before the "
        "clock starts, as workers run all month. The task takes the watermark and the "
        "aggregate, then queues each chunk of tenants as soon as its part of the aggregate is "
        "stored, and the pool drafts them two at a time. "
        "Time: from the message sent to the moment every tenant's draft is committed (the "
        f"bench reads the count of drafts every {POLL_S * 1000:.0f} ms). CPU: the worker's "
        "processes; peak memory: the largest RSS high-water mark among them (PostgreSQL's "
        "server processes not included). Each draft has the plan fee, a line per meter, "
        "dimension and month, and one-time charges; each invoice names the ranges of record ids "
        "it billed (one per month of usage, of every meter), each usage line its meter, and "
        "each charge is linked to its line.",
        f"- The command, for reference: `manage.py generate_invoices --period {data.PERIOD} "
        f"--processes {PROCESSES}` run from a shell as a process of its own, after the same "
        "reset, wall time from start to exit: three Django start-ups (the command and its "
        "drafting processes) included; peak memory: the largest `VmHWM` among its processes, "
        "read every 50 ms.",
        "- The baseline: one hand-written GROUP BY over the same records (every record up to "
        "the largest id with a window before the period's end; none is billed yet), summing "
        "quantities and counting records per tenant, meter, dimension value and month (what "
        "the lines hold); and the same per tenant, meter and dimension only. Each is fetched "
        "whole by the bench process; "
        f"one warm-up, then the median of {BASELINE_RUNS}. *Run / SQL* divides by the faster "
        "of the two.",
        "- Before each round: every invoice of the period deleted with its ranges and "
        "the runs' aggregates, every charge unlinked, each tenant's cursor put where the "
        "previous month's run leaves it (months before October closed, none of these records "
        "billed: a portal in use, where a tenant's first run, which creates its cursor, is "
        "long past), `VACUUM (ANALYZE)`, "
        "`CHECKPOINT`. After it, before its time counts: one draft per tenant; one usage line "
        "per group of the aggregate; every usage line's quantity equal to the sum of the "
        "records its ranges hold; and per tenant, meter, dimension and month the held records' "
        "count and quantity equal to the aggregate's.",
        "",
        "### Results",
        "",
        *table,
        "",
        "### Where the time goes",
        "",
        "- The run reads the records once. Beat's task takes the watermark and stores the "
        "aggregate of every unbilled record: the baseline's scan, where the records received "
        "since every cursor (here all of them) are summed as they are and the rest are checked "
        "against their tenant's cursor (and against the ranges invoices already hold, when any "
        "lie beyond the cursors), by `CREATE TEMPORARY TABLE ... AS`, which PostgreSQL runs on "
        "its parallel workers, then into the run's table a chunk of tenants at a time, each "
        "chunk queued once its part is committed, so that the first chunks are drafted while "
        "the rest are stored. "
        f"The task took **{aggregate_s:,.2f} s** (median), {aggregate_s / sql3_s:.1f} x the "
        f"aggregate without the month and {aggregate_s / sql_s:.1f} x the one by month.",
        f"- Then {chunks} chunks of {settings.INVOICE_RUN_CHUNK} tenants "
        "(`INVOICE_RUN_CHUNK`), two at a time (one per pool process): each reads "
        "its part of the aggregate, rates, prices and taxes the drafts in Python (the code that "
        "prices every invoice) and writes invoices, lines, events and ranges by COPY, one "
        f"transaction a chunk. Their times add up to **{chunk_total_s:,.1f} s** (median; "
        f"{chunk_median_s:,.2f} s a chunk), about {chunk_total_s / 2:,.1f} s of the wall time "
        "with two at a time. The workers' processes used "
        f"{common.median([r.run_cpu_s for r in rounds]):,.1f} s of CPU in all; the rest of the "
        "chunks' time is PostgreSQL storing the rows, on the same two cores.",
        "- No record is written: an invoice names the records it billed as ranges of ids (ids "
        "only grow, and the watermark is taken while no insert is in flight), and its line of "
        "a record's meter, dimension value and month billed it.",
        f"- The command takes longer ({command_s:,.1f} s): it starts Django three times (itself "
        "and its two drafting processes), about a second of CPU each.",
        "",
    ]
    common.write_section(common.section_name(MODULE, s), lines)
    print(
        f"\nrun {run_s:.1f} s for {invoices:,} invoices ({rate:,.0f}/s), SQL {sql_s:.2f} s "
        f"(x{ratio:.1f}); peak {peak:,.0f} MB; results in docs/benchmarks.md",
        flush=True,
    )


if __name__ == "__main__":
    run()
