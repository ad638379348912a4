"""How the scenario drives the stack from outside, as the provider's systems would: the metering
agent posting usage over HTTP, Celery tasks sent to the broker as beat sends them, a worker whose
clock stands on a later day, and reading what the SMTP server received."""

import datetime
import email.message
import io
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import requests
from celery import Celery
from pypdf import PdfReader

from tests.faults.stack import Service, Stack, json_lines, wait_until

# --- Where the time goes -------------------------------------------------------------------


class Stopwatch:
    """Seconds per phase of the scenario, for the figures line."""

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()
        self.phases: list[tuple[str, float]] = []

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.phases.append((name, now - self.last))
        self.last = now

    @property
    def total(self) -> float:
        return time.monotonic() - self.started

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.0f} s" for name, seconds in self.phases)


# --- The metering agent -----------------------------------------------------------------------


@dataclass
class Metering:
    """Posts batches to ``POST /api/v1/usage/records`` and keeps the API's answers."""

    site_url: str
    token: str
    accepted: int = 0
    duplicates: int = 0
    posts: int = 0
    http: requests.Session = field(default_factory=requests.Session)

    def post(self, records: list[dict[str, object]]) -> dict[str, object]:
        body = {"records": [{k: v for k, v in r.items() if k != "customer"} for r in records]}
        response = self.http.post(
            f"{self.site_url}/api/v1/usage/records",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text[:2000]
        reply = response.json()
        self.posts += 1
        self.accepted += reply["accepted"]
        self.duplicates += reply["duplicates"]
        return reply


# --- Celery, as beat sends it -----------------------------------------------------------------


class Tasks:
    """Sends tasks by name to a broker, as beat does (no result backend: the effects are read)."""

    def __init__(self, broker_url: str) -> None:
        # Not the current app: the project's shared tasks, run eagerly by later tests in this
        # process, must keep resolving to the project's own app.
        self.app = Celery("scenario", broker=broker_url, set_as_current=False)

    def send(self, name: str, *args: object) -> None:
        self.app.send_task(name, args=list(args))

    def close(self) -> None:
        self.app.close()


def sweeps_logged(worker: Service) -> list[dict[str, int]]:
    """What each daily sweep the worker ran reported ("daily sweep: SweepResult(...)")."""
    found = []
    for entry in json_lines(worker.log_text()):
        message = str(entry.get("message", ""))
        if message.startswith("daily sweep:"):
            found.append(
                {
                    name: int(re.search(rf"{name}=(\d+)", message).group(1))  # type: ignore[union-attr]
                    for name in ("marked_overdue", "reminders", "finalized")
                }
            )
    return found


def run_sweep_twice(worker: Service, tasks: Tasks, timeout: float = 120) -> Counter[str]:
    """Beat's morning sweep, sent twice (a duplicated delivery); what the two did together."""
    before = len(sweeps_logged(worker))
    tasks.send("invoices.tasks.daily_sweep")
    tasks.send("invoices.tasks.daily_sweep")
    done = wait_until(lambda: len(sweeps_logged(worker)) >= before + 2, timeout, interval=0.25)
    assert done, f"the worker did not report two sweeps:\n{worker.log_tail()}"
    total: Counter[str] = Counter()
    for report in sweeps_logged(worker)[before:]:
        total.update(report)
    return total


@dataclass
class MovedWorker:
    """A Celery worker whose clock started at ``moment`` (see ``clock.py``), on a Redis database
    of its own, and a sender to that database: only this worker takes the tasks sent there, and
    a clock weeks ahead never makes it take back another worker's unacknowledged tasks (Redis's
    visibility timeout is read off the clock)."""

    moment: datetime.datetime
    service: Service
    tasks: Tasks

    @classmethod
    def start(
        cls, stack: Stack, moment: datetime.datetime, name: str, db: int, **env: str
    ) -> "MovedWorker":
        service = stack.worker(name=name, REDIS_URL=stack.redis.url(db), **env)
        # [python, -m, celery, ...] -> [python, -m, tests.e2e.scenario.clock, <moment>, celery, ...]
        assert service.argv[1:3] == ["-m", "celery"], service.argv
        service.argv = [
            sys.executable, "-m", "tests.e2e.scenario.clock", moment.isoformat(), *service.argv[2:]
        ]  # fmt: skip
        return cls(moment, service.start(), Tasks(stack.redis.url(db)))

    def ready(self, timeout: float = 120) -> Service:
        up = wait_until(lambda: "ready." in self.service.log_text(), timeout, interval=0.2)
        assert up, f"the worker on {self.moment} did not start:\n{self.service.log_tail()}"
        return self.service

    def stop(self) -> None:
        self.tasks.close()
        self.service.stop()


# --- The SMTP server's mailbox --------------------------------------------------------------


def attachments(message: email.message.EmailMessage) -> list[tuple[str, str, bytes]]:
    """(filename, content type, content) of each attachment."""
    found = []
    for part in message.iter_attachments():
        content = part.get_content()
        assert isinstance(content, bytes), part.get_content_type()
        found.append((part.get_filename() or "", part.get_content_type(), content))
    return found


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages)


def subject(message: email.message.EmailMessage) -> str:
    """The subject as a mail client shows it (a long one is folded onto the line after
    ``Subject:``, which Python's parser keeps as a leading space)."""
    return " ".join(str(message["Subject"]).split())


def subjects(messages: list[email.message.EmailMessage], to: str) -> list[str]:
    return [subject(m) for m in messages if to in str(m["To"])]
