"""Structured logs: every line names the request that caused it, in the web process and in the
Celery tasks that request queued.

* When a request starts (Django's ``request_started``), the caller's ``X-Request-ID`` is taken
  if it is a sane token, or one is made; ``RequestIdMiddleware`` (billing_portal/middleware.py)
  echoes it in the response and clears it once the server has closed the response.
* ``RequestIdFilter`` (on the console handler) copies it, and the running task's name and id, onto
  every record, whoever logs it (Django, psycopg, our code).
* ``JsonFormatter`` writes one JSON object a line (production's default: ``LOG_FORMAT=json``);
  development reads ``TEXT_FORMAT``.
* Celery: ``before_task_publish`` puts the id in the task message's headers; ``task_prerun`` makes
  it the worker's current id while the task runs, ``task_postrun`` clears it. An eager task (the
  embedded default) runs inside the request and keeps its id as it is.
"""

import datetime
import json
import logging
import re
import uuid
from contextvars import ContextVar, Token
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun
from django.core.signals import request_started

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# (task name, task id) while a Celery task runs in this process.
current_task: ContextVar[tuple[str, str] | None] = ContextVar("log_task", default=None)

HEADER = "X-Request-ID"
TASK_HEADER = "request_id"  # the task message header that carries it
# What a caller's id may look like: a UUID, a hex or base64url token, a load balancer's trace id.
# Anything else (too long, spaces, quotes, newlines that would forge log lines) is replaced.
VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The caller's id when it is a sane token, else a new one."""
    if value and VALID_ID.fullmatch(value):
        return value
    return new_request_id()


@request_started.connect
def start_request(environ: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Before any middleware: the id is in effect for everything the request logs (Django logs
    a 5xx response after the middleware chain has returned it)."""
    request_id.set(accept_request_id((environ or {}).get("HTTP_X_REQUEST_ID")))


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` ("-" outside a request), ``task_name`` and ``task_id`` to a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        task = current_task.get()
        record.task_name, record.task_id = task if task else ("", "")
        return True


# A LogRecord's own attributes; anything else on a record came from ``extra=`` and is written out.
_RECORD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "request_id",
    "task_name",
    "task_id",
    "taskName",
}
_SCALARS = (str, int, float, bool, type(None))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, request_id, the task's name
    and id when in one, plain ``extra=`` values, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        if entry["request_id"] == "-":
            entry["request_id"] = None
        if getattr(record, "task_id", ""):
            entry["task"] = record.task_name  # type: ignore[attr-defined]
            entry["task_id"] = record.task_id  # type: ignore[attr-defined]
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and isinstance(value, _SCALARS):
                entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(*, json_lines: bool, level: str) -> dict[str, Any]:
    """settings.LOGGING: one console handler with the request id on every record."""
    formatter: dict[str, Any] = (
        {"()": "billing_portal.logs.JsonFormatter"} if json_lines else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "billing_portal.logs.RequestIdFilter"}},
        "formatters": {"line": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # Django's own handlers would print a second, unstructured copy of these.
            "django": {"handlers": ["console"], "level": level, "propagate": False},
            # gunicorn's loggers go through the same handler when it runs the app.
            "gunicorn.error": {"handlers": ["console"], "level": level, "propagate": False},
        },
    }


# --- Celery ---------------------------------------------------------------------------------
_task_tokens: dict[str, tuple[Token[str | None], Token[tuple[str, str] | None]]] = {}


@before_task_publish.connect
def carry_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """The request id travels in the message, so the worker's lines for the task carry it."""
    current = request_id.get()
    if current and headers is not None:
        headers.setdefault(TASK_HEADER, current)


@task_prerun.connect
def adopt_request_id(task_id: str = "", task: Any = None, **kwargs: Any) -> None:
    # A message's custom headers become attributes of task.request. Without one (an eager task,
    # run in the request that queued it) the id in effect stays.
    carried = getattr(getattr(task, "request", None), TASK_HEADER, None)
    name = getattr(task, "name", "") or ""
    _task_tokens[task_id] = (
        request_id.set(carried or request_id.get()),
        current_task.set((name, task_id)),
    )


@task_postrun.connect
def drop_request_id(task_id: str = "", **kwargs: Any) -> None:
    tokens = _task_tokens.pop(task_id, None)
    if tokens is not None:
        current_task.reset(tokens[1])
        request_id.reset(tokens[0])
