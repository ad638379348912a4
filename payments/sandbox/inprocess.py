"""Outbound HTTP answered in-process by the Django app: for tests, and for ``seed_demo``, which
pays demo invoices through the sandbox before the demo's server is up.

``InProcessAdapter`` is a ``requests`` transport adapter: it turns a ``PreparedRequest`` (method,
URL, query, headers including ``Authorization`` and cookies, body) into a request to the Django
WSGI application through ``django.test.Client`` and the reply into a ``requests.Response``. So the
real ``razorpay`` SDK can call the sandbox's API, and the sandbox can post its signed webhooks to
the product's receiver, all inside the test's own transaction: what one side writes the other sees,
and everything is rolled back at the end of the test.

Tests use it through the ``inprocess_http`` fixture (``tests/payments/conftest.py``); code uses
``payments.transport.routed(InProcessHTTP().session)``.
"""

import http
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.test import Client
from requests.adapters import BaseAdapter
from requests.cookies import cookiejar_from_dict
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

# Set by the WSGI environ, not passed as HTTP_ headers.
_ENVIRON_HEADERS = {"content-type", "content-length", "host"}


@dataclass
class Exchange:
    """One request the adapter answered, and its answer."""

    request: requests.PreparedRequest
    response: requests.Response

    @property
    def url(self) -> str:
        return self.request.url or ""

    @property
    def body(self) -> bytes:
        body = self.request.body
        if isinstance(body, str):
            return body.encode()
        return body if isinstance(body, bytes) else b""

    @property
    def headers(self) -> CaseInsensitiveDict:
        return self.request.headers


@dataclass
class Stub:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Called with the request before replying; returns the status to answer with, or None for
    # ``status``. A test can record, check or wait here.
    handler: Callable[[requests.PreparedRequest], int | None] | None = None


def _build_response(
    request: requests.PreparedRequest,
    status: int,
    headers: dict[str, str],
    content: bytes,
    adapter: BaseAdapter,
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers = CaseInsensitiveDict(headers)
    response.raw = io.BytesIO(content)
    response.url = request.url or ""
    response.request = request
    response.connection = cast(Any, adapter)
    response.encoding = get_encoding_from_headers(response.headers)
    response.elapsed = timedelta(0)
    try:
        response.reason = http.HTTPStatus(status).phrase
    except ValueError:
        response.reason = ""
    return response


def headers_get(request: requests.PreparedRequest, name: str) -> str | None:
    value = request.headers.get(name)
    return value.decode("latin-1") if isinstance(value, bytes) else value


class InProcessAdapter(BaseAdapter):
    """Answers requests with the Django app in this process (or a stub registered for a URL).

    Every exchange is appended to ``exchanges``. CSRF checks are enforced, as a real client from
    another site would meet them: a view that outside callers post to (the webhook receiver, the
    checkout callback) must be ``csrf_exempt`` or the test sees 403. An exception raised by a view
    propagates to the caller instead of turning into a 500, so a test shows the traceback.
    """

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[Exchange] = []
        self.stubs: dict[str, Stub] = {}

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        url = request.url or ""
        stub = self.stubs.get(url.split("?", 1)[0])
        if stub is not None:
            status = stub.handler(request) if stub.handler else None
            response = _build_response(
                request, status or stub.status, stub.headers, stub.body, self
            )
        else:
            response = self._dispatch(request, url)
        self.exchanges.append(Exchange(request=request, response=response))
        return response

    def close(self) -> None:
        pass

    def _dispatch(self, request: requests.PreparedRequest, url: str) -> requests.Response:
        parts = urlsplit(url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):  # an iterable of chunks (streamed upload)
            body = b"".join(body)  # type: ignore[arg-type]
        headers = {
            name: value.decode("latin-1") if isinstance(value, bytes) else value
            for name, value in request.headers.items()
            if name.lower() not in _ENVIRON_HEADERS
        }
        content_type = headers_get(request, "Content-Type") or "application/octet-stream"
        secure = parts.scheme == "https"
        port = parts.port or (443 if secure else 80)
        # A fresh client each time: cookies come only from the request's own Cookie header.
        client = Client(enforce_csrf_checks=True)
        reply = client.generic(
            request.method or "GET",
            parts.path + (f"?{parts.query}" if parts.query else ""),
            data=body,
            content_type=content_type,
            secure=secure,
            headers=headers,
            HTTP_HOST=parts.netloc,
            SERVER_NAME=parts.hostname or "testserver",
            SERVER_PORT=str(port),
        )
        streamed = reply.streaming
        content = b"".join(reply.streaming_content) if streamed else reply.content  # type: ignore[attr-defined]
        response = _build_response(request, reply.status_code, dict(reply.items()), content, self)
        # Readable on the response; a Session does not keep them (no urllib3 response to parse).
        response.cookies = cookiejar_from_dict({k: m.value for k, m in reply.cookies.items()})
        return response


class NoNetworkAdapter(BaseAdapter):
    """Refuses every other address: a test never reaches the network by accident. The refusal is
    a ``requests.ConnectionError``, as an unreachable host would give."""

    def send(self, request, *args: Any, **kwargs: Any) -> requests.Response:
        raise requests.ConnectionError(
            f"no network in tests: {request.url} is not served in-process "
            "(mount it, or stub it with inprocess_http.stub)"
        )

    def close(self) -> None:
        pass


class InProcessHTTP:
    """What the ``inprocess_http`` fixture gives a test: the sessions' shared adapter, the log of
    exchanges, and stubs for URLs that should not reach Django."""

    def __init__(self, prefixes: list[str] | None = None) -> None:
        self.adapter = InProcessAdapter()
        self.prefixes = prefixes

    def session(self) -> requests.Session:
        """A Session whose requests to SITE_URL and http://testserver are answered in-process."""
        session = requests.Session()
        blocked = NoNetworkAdapter()
        session.mount("http://", blocked)
        session.mount("https://", blocked)
        for prefix in self.prefixes or [settings.SITE_URL, "http://testserver"]:
            session.mount(prefix.rstrip("/") + "/", self.adapter)
        return session

    def stub(
        self,
        url: str,
        *,
        status: int = 200,
        body: bytes = b"",
        handler: Callable[[requests.PreparedRequest], int | None] | None = None,
        **headers: str,
    ) -> None:
        """Answer ``url`` (exact, query ignored) with a fixed reply instead of the app, after
        calling ``handler`` if given. The URL must lie under a mounted prefix (SITE_URL or
        http://testserver)."""
        self.adapter.stubs[url] = Stub(status=status, body=body, headers=headers, handler=handler)

    @property
    def exchanges(self) -> list[Exchange]:
        return self.adapter.exchanges

    def to(self, url: str) -> list[Exchange]:
        """The exchanges whose URL (without query) is ``url``, oldest first."""
        return [e for e in self.exchanges if e.url.split("?", 1)[0] == url]

    def clear(self) -> None:
        self.adapter.exchanges.clear()
