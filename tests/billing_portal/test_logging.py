"""Request ids: taken or made by the middleware, on every log line, carried into Celery tasks.

The worker side of it, over a real broker and a real worker process, is
tests/faults/test_request_ids.py.
"""

import io
import json
import logging
import re
import sys
from types import SimpleNamespace

import pytest
from django.db import DatabaseError
from django.test import Client

from billing_portal import logs
from invoices import tasks

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def lines():
    """What the console handler writes (the configured filter and JSON formatter), as dicts."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.RequestIdFilter())
    handler.setFormatter(logs.JsonFormatter())
    # The loggers settings.LOGGING gives the console handler ("django" does not propagate).
    loggers = [logging.getLogger(), logging.getLogger("django")]
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        for logger, level in zip(loggers, previous, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def test_a_callers_request_id_is_echoed_and_on_the_request_log_line(db, lines):
    response = Client().get("/accounts/login/", headers={"X-Request-ID": "lb-7f3a.2:x_9"})
    assert response["X-Request-ID"] == "lb-7f3a.2:x_9"
    [line] = [e for e in lines() if e["logger"] == "billing_portal.request"]
    assert line["request_id"] == "lb-7f3a.2:x_9"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/accounts/login/", 200)
    assert line["message"] == "GET /accounts/login/ 200"


@pytest.mark.parametrize(
    "offered",
    ["", "has space", "new\nline", "x" * 129, '"quoted"', "-leading-dash", "ünïcode"],
)
def test_an_unfit_request_id_is_replaced_by_a_new_one(db, offered):
    response = Client().get("/healthz", headers={"X-Request-ID": offered})
    assert HEX_ID.fullmatch(response["X-Request-ID"])


def test_each_request_without_an_id_gets_its_own(db):
    first, second = (Client().get("/healthz")["X-Request-ID"] for _ in range(2))
    assert HEX_ID.fullmatch(first)
    assert HEX_ID.fullmatch(second)
    assert first != second


def test_an_error_inside_a_request_is_logged_under_its_id_with_the_traceback(
    db, lines, monkeypatch
):
    from billing_portal import views

    class Broken:
        def __enter__(self):
            raise DatabaseError("connection refused")

        def __exit__(self, *exc):
            return False

    with monkeypatch.context() as patch:  # undone before the test database is torn down
        patch.setattr(views.connection, "cursor", lambda: Broken())
        response = Client().get("/healthz", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 503
    [error] = [e for e in lines() if e["logger"] == "billing_portal.views"]
    assert error["request_id"] == "req-500"
    assert error["level"] == "ERROR"
    assert "DatabaseError: connection refused" in error["exception"]
    # Django's own line about the 503, written after the middleware returned the response.
    [django_line] = [e for e in lines() if e["logger"] == "django.request"]
    assert (django_line["request_id"], django_line["status_code"]) == ("req-500", 503)
    assert logs.request_id.get() is None  # cleared once the response was closed


def test_outside_a_request_the_id_is_null_and_text_lines_show_a_dash(lines):
    logging.getLogger("anything").warning("no request here")
    assert lines()[-1]["request_id"] is None
    record = logging.makeLogRecord({"msg": "m", "levelname": "INFO", "name": "n"})
    logs.RequestIdFilter().filter(record)
    assert "[-] m" in logging.Formatter(logs.TEXT_FORMAT).format(record)


def test_an_eager_task_logs_under_the_request_that_ran_it(db, lines, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    token = logs.request_id.set("req-eager")
    try:
        tasks.daily_sweep.delay()
    finally:
        logs.request_id.reset(token)
    [line] = [e for e in lines() if e["message"].startswith("daily sweep:")]
    assert line["request_id"] == "req-eager"
    assert line["task"] == "invoices.tasks.daily_sweep"
    assert logs.request_id.get() is None
    assert logs.current_task.get() is None


def test_the_id_goes_into_a_published_tasks_headers_only_inside_a_request():
    headers: dict[str, str] = {}
    logs.carry_request_id(headers=headers)
    assert headers == {}
    token = logs.request_id.set("req-42")
    try:
        logs.carry_request_id(headers=headers)
    finally:
        logs.request_id.reset(token)
    assert headers == {"request_id": "req-42"}


def test_a_worker_takes_the_id_from_the_message_while_the_task_runs():
    task = SimpleNamespace(name="invoices.tasks.flush_outbox", request=SimpleNamespace())
    task.request.request_id = "req-from-web"
    logs.adopt_request_id(task_id="t-1", task=task)
    assert logs.request_id.get() == "req-from-web"
    assert logs.current_task.get() == ("invoices.tasks.flush_outbox", "t-1")
    logs.drop_request_id(task_id="t-1")
    assert logs.request_id.get() is None
    assert logs.current_task.get() is None

    beat_task = SimpleNamespace(name="invoices.tasks.daily_sweep", request=SimpleNamespace())
    logs.adopt_request_id(task_id="t-2", task=beat_task)  # queued by beat: no request behind it
    assert logs.request_id.get() is None
    logs.drop_request_id(task_id="t-2")


def test_json_lines_carry_extra_values_and_stay_one_line():
    record = logging.makeLogRecord(
        {
            "name": "usage.api",
            "levelname": "WARNING",
            "msg": "two\nlines",
            "status": 503,
            "obj": object(),
        }
    )
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    text = logs.JsonFormatter().format(record)
    assert "\n" not in text
    entry = json.loads(text)
    assert entry["message"] == "two\nlines"
    assert entry["status"] == 503
    assert "obj" not in entry
    assert "ValueError: boom" in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_production_logs_json_and_development_text(settings):
    production = logs.logging_config(json_lines=True, level="INFO")
    assert production["formatters"]["line"] == {"()": "billing_portal.logs.JsonFormatter"}
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["request_id"]
    assert settings.LOGGING["formatters"]["line"] == {"format": logs.TEXT_FORMAT}
