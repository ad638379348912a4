"""One client process of the HTTP ingest benchmark (started by bench_usage_http.py).

Reads its share of the batches (every ``clients``-th batch of ``batch`` records, starting at
``index``) into memory as ready request bodies, says so (the file ``START.ready<index>``), waits
for the file ``START`` and the start time written in it, then posts its batches one after another
over loopback and prints what the server answered, as JSON, on stdout.

    python -m bench._usage_http_client PORT TOKEN FILE INDEX CLIENTS BATCH START
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from pathlib import Path


def bodies(path: Path, index: int, clients: int, batch: int) -> list[bytes]:
    mine: list[bytes] = []
    lines: list[bytes] = []
    number = 0
    with path.open("rb") as source:
        for line in source:
            lines.append(line.rstrip(b"\n"))
            if len(lines) == batch:
                if number % clients == index:
                    mine.append(b'{"records": [' + b",".join(lines) + b"]}")
                lines.clear()
                number += 1
    if lines and number % clients == index:
        mine.append(b'{"records": [' + b",".join(lines) + b"]}")
    return mine


def main(argv: list[str]) -> int:
    port, token, path, index, clients, batch, start = argv
    work = bodies(Path(path), int(index), int(clients), int(batch))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    errors: list[str] = []
    latencies: list[float] = []
    signal = Path(start)
    Path(f"{signal}.ready{index}").touch()
    while not signal.exists():
        time.sleep(0.005)
    delay = float(signal.read_text()) - time.time()
    if delay > 0:
        time.sleep(delay)
    started = time.time()
    for body in work:
        sent = time.perf_counter()
        # gunicorn's sync workers close the connection after each response; http.client opens
        # a new one for the next request.
        conn.request("POST", "/api/v1/usage/records", body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        latencies.append(time.perf_counter() - sent)
        if response.status != 200:
            errors.append(f"{response.status}: {answer[:200]!r}")
            continue
        result = json.loads(answer)
        totals["accepted"] += result["accepted"]
        totals["duplicates"] += result["duplicates"]
        totals["rejected"] += len(result["rejected"])
    ended = time.time()
    conn.close()
    json.dump(
        {
            "batches": len(work),
            **totals,
            "errors": errors,
            "started": started,
            "ended": ended,
            "latencies": latencies,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
