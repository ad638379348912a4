"""HTTP ingest of usage records in batches of 500, beside a raw COPY of the same rows.

gunicorn serves the real application (``billing_portal.wsgi``, 3 sync workers as the Docker image
runs it, DEBUG off, the connection pool as configured) on a free loopback port against the
benchmark's database. Client processes, each with its share of the batches already built as
request bodies, start together and post ``POST /api/v1/usage/records`` one batch after another
with a bearer token issued for the run. The baseline, in the same run: the same rows, in the
table's own form, COPY'd into the same table. The table is emptied before each load and the rounds
alternate which goes first; after each, the checksum of every stored column must equal the
first load's, and the answers must count every record accepted.

Goal (issue 4): at least 10,000 records per second, with the ratio to the raw COPY reported.

Run: ``make bench`` (or ``make bench-large``), or ``.venv/bin/python -m bench usage_http``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench import _usage_common as common
from bench import _usage_data as data

MODULE = "bench_usage_http"
GOAL = 10_000  # records per second
BATCH = 500
CLIENTS = 4
WORKERS = 3  # the Docker image's default (GUNICORN_WORKERS)
TOKEN_NAME = "bench-ingest"  # noqa: S105 - a name, not a secret


@dataclass
class Round:
    copy_s: float = 0.0
    http_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def run() -> None:
    s = common.bootstrap(MODULE)
    if s is not None:
        _main(s)


def _main(s: data.Scale) -> None:
    n = s.http_records
    print(f"-- files for {n:,} records", flush=True)
    json_path = data.json_file(s, n)
    copy_path = data.copy_file(s, n)
    token = _token()
    conn = common.connect(s)
    port = _free_port()
    server = _start_server(s, port)
    rounds: list[Round] = []
    try:
        _wait_ready(port, server)
        load_at_start = common.loadavg()
        _warm_up(port, token, json_path)
        expected: tuple[int, str, str] | None = None
        print(f"-- {s.runs} rounds of raw COPY and HTTP ingest, alternating", flush=True)
        for number in range(s.runs):
            result = Round()
            for which in ("copy", "http") if number % 2 == 0 else ("http", "copy"):
                data.truncate(conn)
                if which == "copy":
                    result.copy_s = data.raw_copy(conn, copy_path)
                else:
                    _post_all(result, s, port, token, json_path, server)
                sums = data.checksum(conn)
                expected = expected or sums
                assert sums == expected, (which, sums, expected)
                assert sums[0] == n
            rounds.append(result)
            print(
                f"   round {number + 1}: COPY {result.copy_s:.1f} s ({n / result.copy_s:,.0f}/s), "
                f"HTTP {result.http_s:.1f} s ({n / result.http_s:,.0f}/s), "
                f"p50 {result.percentile(0.5):.0f} ms, p95 {result.percentile(0.95):.0f} ms",
                flush=True,
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    data.truncate(conn)  # leave no partial data set for the others
    _report(s, rounds, load_at_start)


# --- The server and its clients ----------------------------------------------------------------


def _token() -> str:
    from django.contrib.auth.models import User

    from usage.models import IngestToken
    from usage.services import ingest_token_create

    IngestToken.objects.filter(name=TOKEN_NAME).delete()
    user, _ = User.objects.get_or_create(username="bench-ingest")
    _, raw = ingest_token_create(name=TOKEN_NAME, actor=user)
    return raw


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(s: data.Scale, port: int) -> subprocess.Popen[bytes]:
    common.LOGS.mkdir(parents=True, exist_ok=True)
    log = (common.LOGS / "gunicorn.log").open("wb")
    return subprocess.Popen(  # noqa: S603 - the project's own gunicorn
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "billing_portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--timeout",
            "120",
            "--worker-tmp-dir",
            "/dev/shm",  # noqa: S108 - as docker/entrypoint.sh runs it
        ],
        cwd=common.ROOT,
        env={**os.environ, **common.bench_env(s)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "gunicorn exited: see var/bench/logs/gunicorn.log"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def _post(port: int, token: str, body: bytes) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/usage/records",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
        return json.loads(answer.read())


def _warm_up(port: int, token: str, json_path: Path) -> None:
    """Every worker imports and connects before the clock starts (keys the runs never use)."""
    with json_path.open("rb") as source:
        lines = [next(source).rstrip(b"\n").replace(b'"rec-', b'"warm-') for _ in range(BATCH)]
    body = b'{"records": [' + b",".join(lines) + b"]}"
    threads = [
        threading.Thread(target=lambda: [_post(port, token, body) for _ in range(2)])
        for _ in range(WORKERS * 2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _post_all(
    result: Round,
    s: data.Scale,
    port: int,
    token: str,
    json_path: Path,
    server: subprocess.Popen[bytes],
) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        start_file = Path(tmp) / "start"
        clients = [
            subprocess.Popen(  # noqa: S603 - this interpreter, our module
                [
                    sys.executable,
                    "-m",
                    "bench._usage_http_client",
                    str(port),
                    token,
                    str(json_path),
                    str(index),
                    str(CLIENTS),
                    str(BATCH),
                    str(start_file),
                ],
                cwd=common.ROOT,
                stdout=subprocess.PIPE,
            )
            for index in range(CLIENTS)
        ]
        while not all(Path(f"{start_file}.ready{i}").exists() for i in range(CLIENTS)):
            assert all(c.poll() is None for c in clients), "a client failed while loading"
            time.sleep(0.05)
        server_cpu = common.tree_cpu_seconds(server.pid)
        start = time.time() + 0.5
        part = start_file.with_suffix(".part")
        part.write_text(repr(start))
        part.rename(start_file)
        outputs = []
        for client in clients:
            assert client.stdout is not None
            out = client.stdout.read()
            _, status, usage = os.wait4(client.pid, 0)
            client.returncode = os.waitstatus_to_exitcode(status)
            assert client.returncode == 0, out[-2000:]
            result.client_cpu_s += usage.ru_utime + usage.ru_stime
            outputs.append(json.loads(out))
        result.server_cpu_s = common.tree_cpu_seconds(server.pid) - server_cpu
    errors = [e for o in outputs for e in o["errors"]]
    assert not errors, errors[:5]
    accepted = sum(o["accepted"] for o in outputs)
    assert (
        accepted,
        sum(o["duplicates"] for o in outputs),
        sum(o["rejected"] for o in outputs),
    ) == (
        s.http_records,
        0,
        0,
    ), outputs
    result.http_s = max(o["ended"] for o in outputs) - start
    result.latencies = [t for o in outputs for t in o["latencies"]]


# --- Report ------------------------------------------------------------------------------------


def _report(s: data.Scale, rounds: list[Round], load_at_start: str) -> None:
    n = s.http_records
    copy_s = common.median([r.copy_s for r in rounds])
    http_s = common.median([r.http_s for r in rounds])
    copy_rate, http_rate = n / copy_s, n / http_s
    ratio = http_rate / copy_rate
    ok = http_rate >= GOAL
    table = [
        "| Round | Raw COPY s | COPY rows/s | HTTP s | HTTP records/s | HTTP / COPY "
        "| Batch p50 ms | Batch p95 ms | CPU s: gunicorn / clients |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for number, r in enumerate(rounds, 1):
        table.append(
            f"| {number} | {r.copy_s:,.1f} | {n / r.copy_s:,.0f} | {r.http_s:,.1f} "
            f"| {n / r.http_s:,.0f} | {r.copy_s / r.http_s:.2f} | {r.percentile(0.5):,.0f} "
            f"| {r.percentile(0.95):,.0f} | {r.server_cpu_s:,.1f} / {r.client_cpu_s:,.1f} |"
        )
    table.append(
        f"| **median** | **{copy_s:,.1f}** | **{copy_rate:,.0f}** | **{http_s:,.1f}** "
        f"| **{http_rate:,.0f}** | **{ratio:.2f}** | | | |"
    )
    title = "Usage HTTP ingest" + ("" if s.name == "standard" else f" ({s.name})")
    lines = [
        f"## {title} (`bench/{MODULE}.py`)",
        "",
        f"Run {common.now_ist()} IST, `BENCH_SCALE={s.name}`; {'meets' if ok else '**misses**'} "
        f"the goal of at least {GOAL:,} records per second in batches of {BATCH} "
        f"(**{http_rate:,.0f}/s**); the raw COPY of the same rows took {copy_rate:,.0f} rows/s, "
        f"so HTTP ingest runs at **{ratio:.2f} x** COPY.",
        "",
        "### Machine",
        "",
        *common.machine(load_at_start),
        "- The clients, gunicorn's workers and PostgreSQL share these two cores: the clients' "
        "CPU time (last column) is taken from the server. They do little (bodies are built "
        "before the clock starts; each request is one send and one small JSON answer), but a "
        "server on a machine of its own would do better than measured here.",
        "",
        "### Data set",
        "",
        f"- Database `{data.db_name(s)}`: {s.tenants:,} tenants; {n:,} usage records (the first "
        f"{n:,} of the import benchmark's generator: 7 meters, GPU-hours with a `gpu_type` "
        "dimension, up to 6 decimal places), as JSON objects with the API's field names, "
        f"{n // BATCH:,} batches of {BATCH}.",
        "",
        "### Method",
        "",
        f"- Server: `gunicorn billing_portal.wsgi:application --workers {WORKERS}` (sync "
        "workers, as the Docker image runs it), DEBUG off, the connection pool as configured, "
        "on a free port of 127.0.0.1; warmed up with a few batches of other keys before the "
        "table is emptied.",
        f"- Clients: {CLIENTS} processes (`bench/_usage_http_client.py`), each with every "
        f"{CLIENTS}th batch ready as a request body in memory, start together and post their "
        "batches one after another with `http.client` (a new connection per request: sync "
        "workers close it after each answer). Time: from the common start to the last answer. "
        "Every answer must be 200 and count its records accepted; none duplicate or rejected.",
        "- Baseline: the same rows already in the table's form, `COPY usage_usagerecord (...) "
        "FROM STDIN` through psycopg from the bench process, one transaction.",
        f"- The table is emptied before each load; {len(rounds)} rounds alternate which goes "
        "first; medians. After every load the checksum of all stored columns of all records "
        "must equal the first load's.",
        "",
        "### Results",
        "",
        *table,
        "",
    ]
    common.write_section(common.section_name(MODULE, s), lines)
    print(
        f"\nHTTP {http_rate:,.0f} records/s (goal {GOAL:,}), raw COPY {copy_rate:,.0f} rows/s: "
        f"x{ratio:.2f}; results in docs/benchmarks.md",
        flush=True,
    )


if __name__ == "__main__":
    run()
