"""The one place outbound HTTP sessions come from: the gateway's SDK client and the sandbox's
webhook deliveries both take theirs from :func:`session`.

Tests replace :func:`session` to route requests into the Django app in-process (see
``payments/sandbox/inprocess.py``), so the real SDK and the real signed webhooks run inside a test's
transaction; the live-server tests keep the real network path.
"""

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

import requests

_route: ContextVar[Callable[[], requests.Session] | None] = ContextVar("route", default=None)


def session() -> requests.Session:
    route = _route.get()
    return route() if route is not None else requests.Session()


@contextlib.contextmanager
def routed(factory: Callable[[], requests.Session]) -> Iterator[None]:
    """Sessions from ``factory`` inside the block (seed_demo reaches the sandbox in-process)."""
    token = _route.set(factory)
    try:
        yield
    finally:
        _route.reset(token)
