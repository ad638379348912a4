"""Work the sandbox starts only once its HTTP reply has gone out, as Razorpay sends webhooks after
answering the API call that caused them.

It matters when Celery runs eagerly (the demo): a refund or capture call would otherwise deliver
its webhooks, and wait for the merchant's webhook view, before the merchant's own request got
its reply; a merchant holding a row lock across that call would then wait on itself. Outside a
wrapped view (tests running on-commit callbacks, a worker) the work runs at once.
"""

from collections.abc import Callable
from contextvars import ContextVar
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponseBase

_pending: ContextVar[list[Callable[[], None]] | None] = ContextVar(
    "sandbox_after_response", default=None
)


def run_or_defer(work: Callable[[], None]) -> None:
    pending = _pending.get()
    if pending is None:
        work()
    else:
        pending.append(work)


def after_response[V: Callable[..., HttpResponseBase]](view: V) -> V:
    """Hold the work a view queues until the server closes its response (the reply is sent)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        pending: list[Callable[[], None]] = []
        token = _pending.set(pending)
        try:
            response = view(request, *args, **kwargs)
        finally:
            _pending.reset(token)
        if pending:
            close = response.close

            def close_then_run() -> None:
                close()
                for work in pending:
                    work()

            response.close = close_then_run  # type: ignore[method-assign]
        return response

    return wrapped  # type: ignore[return-value]
