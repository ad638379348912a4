"""What the usage benchmarks share: start-up in their own database, commands run with their peak
memory measured, the machine's description, and each one's section of docs/benchmarks.md."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from bench import _usage_data as data

ROOT = data.ROOT
DOC = ROOT / "docs" / "benchmarks.md"
LOGS = data.FILES / "logs"
MEMORY_LIMIT_MB = 300


def bench_env(s: data.Scale) -> dict[str, str]:
    """The environment of the benchmark and of the commands and servers it starts: its own
    database, the connection pool as configured, DEBUG off as in production."""
    return {
        "DJANGO_SETTINGS_MODULE": "billing_portal.settings",
        "DJANGO_ENV": "development",
        "DATABASE_URL": data.database_url(s),
        "DEBUG": "false",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "BENCH_SCALE": s.name,
    }


def bootstrap(module: str) -> data.Scale | None:
    """Django set up on the scale's database, migrated, with its catalogue; None when the
    benchmark was handed to a fresh interpreter (Django was set up already, on another database)."""
    from django.conf import settings

    s = data.scale()
    if settings.configured:
        subprocess.run(  # noqa: S603 (this interpreter, this module)
            [sys.executable, "-m", f"bench.{module}"],
            env={**os.environ, **bench_env(s)},
            cwd=ROOT,
            check=True,
        )
        return None
    fresh = data.prepare_database(s)
    os.environ.update(bench_env(s))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    assert connection.vendor == "postgresql", "the benchmark runs on PostgreSQL only"
    assert connection.settings_dict["NAME"] == data.db_name(s)
    call_command("migrate", interactive=False, verbosity=0)
    if fresh:
        data.build_catalogue(s)
    return s


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float  # the largest RSS high-water mark among the process and its children
    cpu_s: float  # the process's user + system CPU time
    returncode: int
    stdout: str
    stderr_path: Path


def run_measured(args: list[str], *, env: dict[str, str], name: str) -> Measured:
    """Run a command to its end: its wall time, its CPU (with its children's, from ``wait4()``)
    and its peak resident memory.

    The peak is the largest ``VmHWM`` among the command and its children, read every 50 ms while
    it runs, not ``ru_maxrss``: a child started by fork and exec inherits the high-water mark of
    the benchmark's own process at the exec, so that ``ru_maxrss`` reports the benchmark's size
    whenever it is the larger (seen: 244 MB for a run whose processes never passed 97 MB)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    out_path, err_path = LOGS / f"{name}.out", LOGS / f"{name}.err"
    peak = 0.0
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=err)  # noqa: S603
        while True:
            peak = max(peak, tree_peak_rss_mb(proc.pid))
            reaped, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if reaped:
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        seconds=seconds,
        peak_rss_mb=peak,
        cpu_s=usage.ru_utime + usage.ru_stime,
        returncode=proc.returncode,
        stdout=out_path.read_text(errors="replace"),
        stderr_path=err_path,
    )


def _tree(pid: int) -> list[tuple[int, list[str]]]:
    """A process and its live children: (pid, the fields of /proc/<pid>/stat after its name)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        process, parent = int(stat.parent.name), int(fields[1])
        if process == pid or parent == pid:
            found.append((process, fields))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children (a server's master and workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    return sum((int(f[11]) + int(f[12])) / ticks for _, f in _tree(pid))


def tree_peak_rss_mb(pid: int) -> float:
    """The largest RSS high-water mark (VmHWM) among a process and its live children."""
    peak = 0
    for process, _ in _tree(pid):
        for line in _read(f"/proc/{process}/status").splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak / 1024


def manage(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "manage.py"), *args]


def loadavg() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine(load_at_start: str) -> list[str]:
    """The machine, as bullet lines."""
    import django
    import psycopg
    from django.db import connection

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kb = next(
        (
            int(line.split()[1])
            for line in _read("/proc/meminfo").splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (pg_version,) = cursor.fetchone()
        settings = {}
        for name in (
            "shared_buffers",
            "work_mem",
            "maintenance_work_mem",
            "max_wal_size",
            "synchronous_commit",
            "max_parallel_workers_per_gather",
        ):
            cursor.execute(f"SHOW {name}")
            settings[name] = cursor.fetchone()[0]
    return [
        f"- CPU: {cpu} ({len(os.sched_getaffinity(0))} cores usable, nproc)",
        f"- Load average (1, 5, 15 min) at the start and end of the measurements: "
        f"{load_at_start} and {loadavg()} (other work on the machine competes for the same two "
        "cores: compare within this run, not across runs)",
        f"- Memory: {mem_kb / 1024 / 1024:.1f} GiB",
        f"- OS: {platform.system()} {platform.release()}",
        f"- PostgreSQL: {pg_version} on 127.0.0.1 ("
        + ", ".join(f"{k}={v}" for k, v in settings.items())
        + ")",
        f"- Python {platform.python_version()}, Django {django.get_version()}, "
        f"psycopg {psycopg.__version__}",
    ]


def now_ist() -> str:
    return (
        f"{datetime.datetime.now(datetime.UTC).astimezone(ZoneInfo('Asia/Kolkata')):%Y-%m-%d %H:%M}"
    )


def section_name(module: str, s: data.Scale) -> str:
    return module if s.name == "standard" else f"{module}_{s.name}"


def write_section(name: str, lines: list[str]) -> None:
    """Replace the section between ``<!-- name: start -->`` and its end marker (or append it)."""
    if name.endswith("_smoke"):
        print("\n".join(lines))  # a check that the benchmark works, not a result
        return
    start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
    section = "\n".join([start, *lines, end])
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def connect(s: data.Scale) -> object:
    """A plain psycopg connection (autocommit) to the scale's database, outside Django."""
    import psycopg

    return psycopg.connect(data.dsn(s), autocommit=True)
