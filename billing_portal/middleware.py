import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from billing_portal import logs

log = logging.getLogger("billing_portal.request")


class RequestIdMiddleware:
    """First in the chain: echoes the request's id in the ``X-Request-ID`` response header, logs
    one line per request, and keeps the id in effect until the server has closed the response.

    The id itself is taken (or made) when the request starts (``logs.start_request``), so that
    Django's own lines about the response, written after the middleware returns, carry it too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = logs.request_id.get()
        if request_id is None:  # a handler that sends no request_started (RequestFactory)
            request_id = logs.accept_request_id(request.headers.get(logs.HEADER))
            logs.request_id.set(request_id)
        request.request_id = request_id  # type: ignore[attr-defined]
        started = time.monotonic()
        response = self.get_response(request)
        response[logs.HEADER] = request_id
        # The load balancer's probe every few seconds would drown the rest.
        level = logging.DEBUG if request.path == "/healthz" else logging.INFO
        log.log(
            level,
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        _clear_id_once_closed(response, request_id)
        return response


def _clear_id_once_closed(response: HttpResponse, request_id: str) -> None:
    """The server closes the response after the middleware returns; work done then (the
    sandbox's webhooks, streamed exports) logs and queues tasks under the request's id too."""
    close = response.close

    def close_then_clear() -> None:
        logs.request_id.set(request_id)
        try:
            close()
        finally:
            logs.request_id.set(None)

    response.close = close_then_clear  # type: ignore[method-assign]
