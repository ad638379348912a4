"""HTML to PDF with WeasyPrint, in a separate process with a time and a memory limit.

Why a process of its own (one per web or worker process, started on first use and kept warm):

* A time limit has to stop C code (Pango, HarfBuzz, cairo-free layout loops) that a Python signal
  cannot interrupt, and ``signal.alarm`` works only in the main thread, which gunicorn's gthread
  workers do not render in. Killing a process always works.
* A memory limit (``RLIMIT_AS``) applies to a whole process: set in the renderer, a document that
  would need gigabytes kills only the renderer, never the gunicorn or Celery worker.
* ``fork()`` of a warm worker would be cheaper but is unsafe in threaded processes (gthread, the
  test live server) and Celery's prefork children are daemonic (no ``multiprocessing``
  children); ``subprocess`` works in all of them.
* The renderer gets a minimal environment (no SECRET_KEY, no DATABASE_URL) and a URL fetcher that
  serves only files under the project's ``static/`` directory: no file://, no http(s) to anywhere,
  no data: URLs, so no attachment or image in a document can read the machine or the network.

The renderer is reused for many documents and keeps what does not depend on the document: one
fontconfig/Pango font configuration (WeasyPrint otherwise loads fontconfig's font list and starts
cold glyph caches for every document: a third of a one-page invoice) and the project stylesheets a
caller names, parsed once (``stylesheets``; a <link> would be parsed again for every document). Its
garbage collector ignores the warm objects (``gc.freeze``) and does not run during a render:
WeasyPrint allocates hundreds of thousands of objects per document, and collections in the middle
of one took a tenth of a long invoice's CPU, now and then a full one that made a render 70%
slower, and left garbage that grew the process by megabytes a document. One collection runs after
each answer is sent, while the parent reads it (a 1000-line invoice peaks at the same memory
either way: WeasyPrint keeps its boxes until the PDF is written). It is replaced after
``RECYCLE_AFTER`` documents, after a timeout, or when it dies. Requests from the threads of one
process take turns (a lock): one render at a time per process.

Protocol on the renderer's stdin/stdout: the parent sends an 8-byte length and the names of the
stylesheets (static paths, one a line), then an 8-byte length and the HTML (both UTF-8); the
renderer answers one status byte (``K`` a PDF, ``E`` an error text), an 8-byte length and the
payload.
"""

from __future__ import annotations

import atexit
import mimetypes
import os
import selectors
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

# Relative URLs in a document resolve against this base, which names no real host (.invalid is
# reserved, RFC 2606): the fetcher maps it to the static directory and refuses everything else.
STATIC_BASE_URL = "http://pdf-static.invalid/static/"
ALLOWED_SUFFIXES = {".css", ".svg", ".png", ".jpg", ".woff", ".woff2", ".ttf", ".otf"}
DEFAULT_TIMEOUT = 30.0  # seconds for one document (a 100-line invoice takes about one)
DEFAULT_MEMORY_MB = 768  # address space a renderer may add beyond what it has once warm
RECYCLE_AFTER = 500  # documents, then a fresh renderer (bounds any slow leak)
# What the renderer may see of the environment: enough for fontconfig and temporary files.
PASS_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "XDG_CACHE_HOME",
            "FONTCONFIG_FILE", "FONTCONFIG_PATH")  # fmt: skip
_LEN = struct.Struct("!Q")


class PdfRenderError(RuntimeError):
    """The document could not be rendered: too slow, too large, or WeasyPrint failed."""


# --- The parent's side ----------------------------------------------------------------------


class _Renderer:
    def __init__(self, static_root: Path, memory_mb: int) -> None:
        env = {k: v for k, v in os.environ.items() if k in PASS_ENV}
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and file, no shell
            [sys.executable, "-I", str(Path(__file__).resolve()), str(static_root), str(memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        self.owner_pid = os.getpid()
        self.documents = 0

    def alive(self) -> bool:
        return self.owner_pid == os.getpid() and self.proc.poll() is None

    def stop(self) -> None:
        if self.owner_pid != os.getpid():
            return  # a forked child inherited the handle: the renderer is its parent's
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()

    def render(self, html: bytes, stylesheets: bytes, deadline: float) -> bytes:
        if self.proc.stdin is None or self.proc.stdout is None:  # pragma: no cover - Popen(PIPE)
            raise PdfRenderError("the PDF renderer has no pipes")
        self.documents += 1
        try:
            self.proc.stdin.write(
                _LEN.pack(len(stylesheets)) + stylesheets + _LEN.pack(len(html)) + html
            )
            self.proc.stdin.flush()
        except OSError as error:
            raise PdfRenderError(f"the PDF renderer stopped: {error}") from error
        status = _read_exactly(self.proc.stdout, 1, deadline)
        (size,) = _LEN.unpack(_read_exactly(self.proc.stdout, _LEN.size, deadline))
        payload = _read_exactly(self.proc.stdout, size, deadline)
        if status == b"K":
            return payload
        raise PdfRenderError(payload.decode("utf-8", "replace"))


def _read_exactly(stream: IO[bytes], size: int, deadline: float) -> bytes:
    fd = stream.fileno()
    chunks: list[bytes] = []
    left = size
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise TimeoutError
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise PdfRenderError("the PDF renderer stopped (out of memory or crashed)")
            chunks.append(chunk)
            left -= len(chunk)
    return b"".join(chunks)


_lock = threading.Lock()
_renderer: _Renderer | None = None


def _settings() -> tuple[Path, int, float]:
    from django.conf import settings

    static_root = Path(getattr(settings, "PDF_STATIC_ROOT", settings.BASE_DIR / "static"))
    memory_mb = int(getattr(settings, "PDF_RENDER_MEMORY_MB", DEFAULT_MEMORY_MB))
    timeout = float(getattr(settings, "PDF_RENDER_TIMEOUT", DEFAULT_TIMEOUT))
    return static_root, memory_mb, timeout


def render_pdf(
    html: str, *, stylesheets: tuple[str, ...] = (), timeout: float | None = None
) -> bytes:
    """The PDF of ``html`` (already escaped: this renders it, it does not clean it), styled by
    ``stylesheets`` (paths under ``static/``, e.g. ``"css/pdf.css"``, parsed once per renderer)
    besides whatever the document links."""
    names = "\n".join(stylesheets).encode("utf-8")
    global _renderer
    static_root, memory_mb, default_timeout = _settings()
    with _lock:
        deadline = time.monotonic() + (timeout or default_timeout)
        if _renderer is None or not _renderer.alive() or _renderer.documents >= RECYCLE_AFTER:
            if _renderer is not None:
                _renderer.stop()
            _renderer = _Renderer(static_root, memory_mb)
        renderer = _renderer
        try:
            return renderer.render(html.encode("utf-8"), names, deadline)
        except TimeoutError:
            renderer.stop()
            _renderer = None
            raise PdfRenderError(
                f"the PDF took longer than {timeout or default_timeout:g} s to render"
            ) from None
        except PdfRenderError:
            if not renderer.alive():
                renderer.stop()
                _renderer = None
            raise


def shutdown() -> None:
    global _renderer
    with _lock:
        if _renderer is not None:
            _renderer.stop()
            _renderer = None


atexit.register(shutdown)


# --- The renderer's side (runs as a script: only the standard library and WeasyPrint) ---------


def _static_fetcher(static_root: Path) -> Any:
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    root = static_root.resolve()
    cache: dict[str, tuple[bytes, str]] = {}

    class StaticOnlyFetcher(URLFetcher):
        """Serves the project's static files; every other URL fails (WeasyPrint then leaves the
        image or stylesheet out and logs a warning)."""

        def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
            if url not in cache:
                cache[url] = _static_file(root, url)
            body, mime = cache[url]
            return URLFetcherResponse(url, body, {"Content-Type": mime})

    return StaticOnlyFetcher()


def _static_file(root: Path, url: str) -> tuple[bytes, str]:
    parts = urlsplit(url)
    base = urlsplit(STATIC_BASE_URL)
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or not parts.path.startswith(
        base.path
    ):
        raise ValueError(f"refused (not a static file of the project): {url[:100]}")
    path = (root / unquote(parts.path[len(base.path) :])).resolve()
    if not path.is_relative_to(root) or path.suffix not in ALLOWED_SUFFIXES or not path.is_file():
        raise ValueError(f"refused (not a static file of the project): {url[:100]}")
    return path.read_bytes(), mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _limit_memory(extra_mb: int) -> None:
    import resource

    try:
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return  # no /proc (not Linux): no limit rather than a wrong one
    limit = current + extra_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _warn_without_harfbuzz_subset() -> None:
    """Say so when WeasyPrint has to subset fonts with fontTools: it warns only through its logger,
    which the renderer silences, and fontTools takes about 0.2 s of CPU per document (HarfBuzz
    a few milliseconds). The Dockerfile and .ci/run install libharfbuzz-subset0."""
    from weasyprint.text import ffi

    if getattr(ffi, "harfbuzz_subset", True) is None:
        sys.stderr.write(
            "pdfrender: libharfbuzz-subset is missing, so WeasyPrint subsets fonts with fontTools "
            "(about 0.2 s more per PDF); install libharfbuzz-subset0\n"
        )
        sys.stderr.flush()


def _serve(static_root: Path, memory_mb: int) -> None:
    import gc
    import logging

    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    logging.getLogger("weasyprint").setLevel(logging.ERROR)  # refused URLs are expected
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    fetcher = _static_fetcher(static_root)
    # Safe to share between documents: a document can add fonts to it only through @font-face,
    # whose files the fetcher takes from static/ alone; the renderer is recycled anyway.
    font_config = FontConfiguration()
    sheets: dict[str, Any] = {}

    def stylesheet(name: str) -> Any:
        if name not in sheets:  # through the fetcher: a static file or an error
            sheets[name] = CSS(
                url=STATIC_BASE_URL + name, url_fetcher=fetcher, font_config=font_config
            )
        return sheets[name]

    def render(html: str, names: list[str]) -> bytes:
        document = HTML(string=html, base_url=STATIC_BASE_URL, url_fetcher=fetcher)
        return document.write_pdf(
            stylesheets=[stylesheet(name) for name in names], font_config=font_config
        )

    _warn_without_harfbuzz_subset()
    render("<p>₹</p>", [])  # load fonts and caches before the limit counts what is already there
    gc.collect()
    gc.freeze()  # the warm modules, fonts and caches: no collection needs to walk them again
    gc.disable()  # collections run between documents (below), not in the middle of one
    _limit_memory(memory_mb)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while header := stdin.read(_LEN.size):
        (size,) = _LEN.unpack(header)
        names = [name for name in stdin.read(size).decode("utf-8").split("\n") if name]
        (size,) = _LEN.unpack(stdin.read(_LEN.size))
        html = stdin.read(size).decode("utf-8")
        try:
            status, payload = b"K", render(html, names)
        except MemoryError:
            status, payload = b"E", b"the PDF needs more memory than a render may use"
        except Exception as error:
            status, payload = b"E", f"{type(error).__name__}: {error}".encode()[:2000]
        stdout.write(status + _LEN.pack(len(payload)) + payload)
        stdout.flush()
        gc.collect()  # the document's cyclic garbage, while the parent reads the answer


if __name__ == "__main__":
    _serve(Path(sys.argv[1]), int(sys.argv[2]))
