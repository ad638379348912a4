"""Bulk import of usage records beside a raw COPY of the same rows into the same table.

The file (1,000,000 records; 10,000,000 with ``BENCH_SCALE=large``) is imported by the real
command, ``manage.py import_usage FILE``, in a process of its own whose peak resident memory is
its ``VmHWM``, read while it runs. The baseline, in the same run: the same rows, already in the
table's own form (meter ids, dimensions as JSON, COPY text format), streamed by
``COPY ... FROM STDIN`` into the same table with the same indexes and constraints. The table is
emptied before each load; the rounds alternate which goes first. Both loads must leave the same
checksum over every stored column of every record, and the import must report every record
accepted.

Goal (issue 4): the import at least 0.5 x the raw COPY's rows per second; its peak memory under
300 MB whatever the size.

Run: ``make bench`` (or ``make bench-large``), or ``.venv/bin/python -m bench usage_import``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from bench import _usage_common as common
from bench import _usage_data as data

MODULE = "bench_usage_import"
RATIO_GOAL = 0.5
SUMMARY_RE = re.compile(
    r"([\d,]+) records read, ([\d,]+) accepted, ([\d,]+) duplicates, ([\d,]+) rejected"
)


@dataclass
class Round:
    copy_s: float = 0.0
    import_s: float = 0.0
    import_rss_mb: float = 0.0
    import_cpu_s: float = 0.0


def run() -> None:
    s = common.bootstrap(MODULE)
    if s is not None:
        _main(s)


def _main(s: data.Scale) -> None:
    print(f"-- files for {s.records:,} records", flush=True)
    csv_path = data.csv_file(s, s.records)
    copy_path = data.copy_file(s, s.records)
    rejects = common.LOGS / "import.rejects.csv"
    env = {**os.environ, **common.bench_env(s)}

    conn = common.connect(s)
    load_at_start = common.loadavg()
    rounds: list[Round] = []
    expected: tuple[int, str, str] | None = None
    print(f"-- {s.runs} rounds of raw COPY and import, alternating", flush=True)
    for n in range(s.runs):
        result = Round()
        for which in ("copy", "import") if n % 2 == 0 else ("import", "copy"):
            data.truncate(conn)
            if which == "copy":
                result.copy_s = data.raw_copy(conn, copy_path)
            else:
                if rejects.exists():
                    rejects.unlink()
                measured = common.run_measured(
                    common.manage("import_usage", str(csv_path), "--rejects", str(rejects)),
                    env=env,
                    name=f"import-{n}",
                )
                assert measured.returncode == 0, measured.stderr_path.read_text()[-2000:]
                found = SUMMARY_RE.search(measured.stdout)
                assert found, measured.stdout
                read, accepted, duplicates, rejected = (
                    int(g.replace(",", "")) for g in found.groups()
                )
                assert (read, accepted, duplicates, rejected) == (s.records, s.records, 0, 0), (
                    measured.stdout
                )
                result.import_s = measured.seconds
                result.import_rss_mb = measured.peak_rss_mb
                result.import_cpu_s = measured.cpu_s
            sums = data.checksum(conn)
            expected = expected or sums
            assert sums == expected, (which, sums, expected)
            assert sums[0] == s.records
            print(f"   round {n + 1} {which}: {sums[0]:,} records, checksum {sums[2]}", flush=True)
        rounds.append(result)
        print(
            f"   round {n + 1}: COPY {result.copy_s:.1f} s, import {result.import_s:.1f} s "
            f"(x{(result.copy_s / result.import_s):.2f}), peak {result.import_rss_mb:.0f} MB",
            flush=True,
        )
    assert expected is not None
    data.mark_records(conn, s.records, expected)  # the monthly run can bill these records
    _report(s, rounds, load_at_start, csv_path.stat().st_size, copy_path.stat().st_size)


def _report(
    s: data.Scale, rounds: list[Round], load_at_start: str, csv_bytes: int, copy_bytes: int
) -> None:
    copy_s = common.median([r.copy_s for r in rounds])
    import_s = common.median([r.import_s for r in rounds])
    copy_rate, import_rate = s.records / copy_s, s.records / import_s
    ratio = import_rate / copy_rate
    peak = max(r.import_rss_mb for r in rounds)
    speed_ok, memory_ok = ratio >= RATIO_GOAL, peak < common.MEMORY_LIMIT_MB
    verdict = "meets" if speed_ok and memory_ok else "**misses**"
    table = [
        "| Round | Raw COPY s | COPY rows/s | Import s | of which the import's own CPU s "
        "| Import rows/s | Import / COPY | Import peak RSS MB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, r in enumerate(rounds, 1):
        table.append(
            f"| {n} | {r.copy_s:,.1f} | {s.records / r.copy_s:,.0f} | {r.import_s:,.1f} "
            f"| {r.import_cpu_s:,.1f} | {s.records / r.import_s:,.0f} "
            f"| {r.copy_s / r.import_s:.2f} | {r.import_rss_mb:,.0f} |"
        )
    table.append(
        f"| **median** | **{copy_s:,.1f}** | **{copy_rate:,.0f}** | **{import_s:,.1f}** | "
        f"| **{import_rate:,.0f}** | **{ratio:.2f}** | **{peak:,.0f}** (max) |"
    )
    title = "Usage bulk import" + ("" if s.name == "standard" else f" ({s.name})")
    lines = [
        f"## {title} (`bench/{MODULE}.py`)",
        "",
        f"Run {common.now_ist()} IST, `BENCH_SCALE={s.name}`; {verdict} the goal: the import at "
        f"least {RATIO_GOAL} x the raw COPY's rows per second (**{ratio:.2f} x**: "
        f"{import_rate:,.0f} against {copy_rate:,.0f} rows/s) "
        f"{'and' if memory_ok else 'but'} its peak memory under {common.MEMORY_LIMIT_MB} MB "
        f"(**{peak:,.0f} MB**).",
        "",
        "### Machine",
        "",
        *common.machine(load_at_start),
        "",
        "### Data set",
        "",
        f"- Database `{data.db_name(s)}`: {s.tenants:,} tenants on 3 plans; "
        f"{s.records:,} usage records over 7 meters (GPU-hours split by GPU type), half spread "
        "evenly over the tenants and half skewed towards a few big ones; windows of an hour in "
        "September to November 2026; quantities with up to 6 decimal places.",
        f"- The import reads a CSV file of {csv_bytes / 1e6:,.0f} MB (the API's field names, "
        "`gpu_type` as a dimension column); the baseline a COPY text file of "
        f"{copy_bytes / 1e6:,.0f} MB holding the same rows as the table stores them.",
        "- The table as migrated: 8 indexes (primary key, the (tenant, key) unique constraint, "
        "the monthly run's partial index, (tenant, meter, window start), two on the invoice "
        "line, one each on tenant and meter), 2 check constraints, 3 foreign keys.",
        "",
        "### Method",
        "",
        "- Import: `manage.py import_usage FILE` run as a process of its own (DEBUG off, as in "
        "production), wall time from start to exit, Django start-up included; peak memory is "
        "its RSS high-water mark (`VmHWM`, read every 50 ms; PostgreSQL's server process not "
        "included). "
        "It parses and validates every record as the HTTP API does, then stores 10,000 a "
        "transaction: COPY into a temporary table, one `INSERT ... SELECT ... ON CONFLICT DO "
        "NOTHING`.",
        "- Baseline: the same rows already in the table's form, `COPY usage_usagerecord (...) "
        "FROM STDIN` from the bench process through psycopg in 1 MB blocks, one transaction, "
        "no parsing and no duplicate check (what a hand-written load of trusted rows costs).",
        f"- The table is emptied (`TRUNCATE`, then `CHECKPOINT`) before every load; {len(rounds)} "
        "rounds alternate which goes first; medians. After every load the checksum of all "
        "stored columns of all records must equal the first load's, and the import must "
        "report every record accepted (no duplicates, no rejects).",
        "",
        "### Results",
        "",
        *table,
        "",
    ]
    common.write_section(common.section_name(MODULE, s), lines)
    print(
        f"\nimport {import_rate:,.0f} rows/s, raw COPY {copy_rate:,.0f} rows/s: "
        f"x{ratio:.2f} (goal {RATIO_GOAL}); peak {peak:,.0f} MB; results in docs/benchmarks.md",
        flush=True,
    )


if __name__ == "__main__":
    run()
