"""PostgreSQL restarts while usage arrives over HTTP (gunicorn with the production connection pool,
on the private cluster): a batch sent while the database is down gets a clear 503 (JSON, with
Retry-After), never a 500; the client resends the same keys and each record is stored once."""

import json
import threading
import time

import requests

from tests.faults.stack import wait_until
from usage import services
from usage.models import UsageRecord

BATCH = 200
URL = "/api/v1/usage/records"


def batch(tenant, name: str) -> list[dict[str, object]]:
    return [
        {
            "tenant_id": tenant.pk,
            "meter": "vcpu_hours",
            "resource_id": f"vm-{i % 7}",
            "quantity": "1.5",
            "window_start": f"2026-10-{1 + i % 28:02d}T{i % 24:02d}:00:00+05:30",
            "window_end": f"2026-10-{1 + i % 28:02d}T{i % 24:02d}:59:59+05:30",
            "idempotency_key": f"{name}-{i}",
        }
        for i in range(BATCH)
    ]


class Sender:
    """A metering system: posts a batch and, on a 503, resends the same batch until it is taken."""

    def __init__(self, site: str, token: str) -> None:
        self.url = f"{site}{URL}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.statuses: list[int] = []
        self.refusals: list[requests.Response] = []

    def post(self, records) -> requests.Response:
        response = self.session.post(self.url, json={"records": records}, timeout=60)
        self.statuses.append(response.status_code)
        if response.status_code == 503:
            self.refusals.append(response)
        return response

    def send(self, records, deadline: float = 60) -> dict[str, object]:
        give_up = time.monotonic() + deadline
        while True:
            response = self.post(records)
            if response.status_code != 503 or time.monotonic() > give_up:
                assert response.status_code == 200, response.text[:1000]
                return response.json()
            # Retry-After says 5 s; a test has no time to lose, the resend is the same.
            time.sleep(0.2)


def test_postgres_restarting_during_ingestion_costs_a_503_and_no_record_twice(
    figures, acme, billing_admin, stack, stack_db, pg_cluster
):
    _, token = services.ingest_token_create(name="metering", actor=billing_admin)
    web = stack.web(DATABASE_POOL_TIMEOUT="2").start()
    stack.wait_for_web(web)
    sender = Sender(stack.site_url, token)

    assert sender.send(batch(acme, "a"))["accepted"] == BATCH

    # Down: the batch is refused with a 503 while the server is really gone.
    pg_cluster.stop("fast")
    refused = sender.post(batch(acme, "b"))
    assert not pg_cluster.is_up(), "PostgreSQL answered: the 503 below proves nothing"
    assert refused.status_code == 503, refused.text[:1000]
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.headers["Retry-After"] == "5"
    assert "retry with the same keys" in json.loads(refused.content)["error"]
    pg_cluster.start()
    assert sender.send(batch(acme, "b"))["accepted"] == BATCH

    # A restart while batches keep coming: the flow goes on until two batches were taken after
    # PostgreSQL came back, each batch resent until it is taken.
    accepted: list[int] = []
    restarted = threading.Event()
    after_restart: list[int] = []

    def flow() -> None:
        n = 0
        while len(after_restart) < 2:
            n += 1
            taken = sender.send(batch(acme, f"flow{n}"))["accepted"]
            accepted.append(taken)  # type: ignore[arg-type]
            if restarted.is_set():
                after_restart.append(n)

    sending = threading.Thread(target=flow)
    sending.start()
    assert wait_until(lambda: len(accepted) >= 2, timeout=30, interval=0.01)
    pg_cluster.stop("fast")
    time.sleep(0.5)
    pg_cluster.start()
    restarted.set()
    sending.join(timeout=120)
    assert not sending.is_alive()
    assert accepted == [BATCH] * len(accepted)
    names = ["a", "b"] + [f"flow{n}" for n in range(1, len(accepted) + 1)]

    # A client that never saw a reply resends: nothing is stored twice.
    assert sender.send(batch(acme, "a")) == {"accepted": 0, "duplicates": BATCH, "rejected": []}

    assert set(sender.statuses) <= {200, 503}, sender.statuses
    assert all(r.json()["error"] for r in sender.refusals)
    stack_db.reconnect()  # the test's own connection did not survive the restarts
    keys = list(UsageRecord.objects.filter(tenant=acme).values_list("idempotency_key", flat=True))
    assert len(keys) == len(set(keys)) == BATCH * len(names)
    figures(
        f"postgres restarts: {len(sender.statuses)} posts, {sender.statuses.count(503)} "
        f"answered 503, {len(keys)} records stored once each"
    )
