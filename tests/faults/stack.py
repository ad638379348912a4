"""The production stack in miniature, for tests that break parts of it on purpose.

A private PostgreSQL cluster and a private Redis on spare ports (started from the installed
binaries, in a temporary directory), so that stopping them never disturbs the machine's shared
services; the project's own gunicorn, Celery worker and Celery beat as child process groups
pointed at them; and an SMTP server on loopback that keeps what it receives. Nothing here knows
about pytest: ``tests/faults/fixtures.py`` turns it into fixtures, which other test packages (the
month-in-the-life scenario) import into their own conftest.

PostgreSQL refuses to run as root (``initdb`` and ``postgres`` exit at once), and CI runs the
suite as root: then every PostgreSQL binary is run as the ``postgres`` OS user through
``runuser``, on a data directory that user owns.
"""

import contextlib
import email
import email.message
import email.policy
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PG_OS_USER = "postgres"  # who runs the cluster when the tests run as root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class Unavailable(Exception):
    """What the stack needs is not installed here; the message says what (a skip reason)."""


# --- PostgreSQL -----------------------------------------------------------------------------


def postgres_bindir() -> Path:
    """Where initdb, pg_ctl and postgres are: pg_config's bindir, else the newest Debian one."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(  # noqa: S603 - the installed pg_config
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            candidates.append(Path(out))
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    candidates += [Path(p) for p in debian]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for directory in candidates:
        if all((directory / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    raise Unavailable(
        "needs the PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql"
    )


class PostgresCluster:
    """A throwaway cluster: trust auth on 127.0.0.1:<port>, its data and socket in a temp dir."""

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            if shutil.which("runuser") is None:
                raise Unavailable("running as root needs runuser to start PostgreSQL as postgres")
            try:
                import pwd

                self._owner = pwd.getpwnam(PG_OS_USER)
            except KeyError:
                raise Unavailable(
                    f"running as root, PostgreSQL must run as the {PG_OS_USER!r} OS user, "
                    "which does not exist"
                ) from None
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="billing-faults-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        if self.as_root:
            os.chown(self.base, self._owner.pw_uid, self._owner.pw_gid)

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", PG_OS_USER, "--"] if self.as_root else []
        return subprocess.run(  # noqa: S603 - the installed PostgreSQL binaries
            [*prefix, str(self.bindir / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            check=check,
            cwd=self.base,
        )

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions",
        )  # fmt: skip
        # Durability off: a test cluster trades crash safety for speed. A clean stop (fast or
        # smart) still writes everything, which is all the restart tests need.
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.base}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 60\nshared_buffers = 32MB\n"
            )

    def start(self) -> None:
        result = self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start",
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session at once (as a restart by systemd does); ``immediate``
        is a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_up(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def ensure_up(self) -> None:
        if not self.is_up():
            self.start()

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def destroy(self) -> None:
        if self.data.exists():
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


# --- Redis ----------------------------------------------------------------------------------


class RedisServer:
    """redis-server on a spare port, with an append-only file, as a production Redis would keep
    its queue across a restart."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise Unavailable("needs redis-server: apt-get install redis-server")
        self.binary = binary
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="billing-faults-redis-"))
        self.log = self.base / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [
            self.binary,
            "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes", "--appendfsync", "everysec",
            "--dir", str(self.base), "--logfile", str(self.log),
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - the installed redis-server
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not wait_until(self.is_up, timeout=20):
            raise RuntimeError(f"redis-server did not start:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM: Redis writes its append-only file and exits (a clean restart)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        wait_until(lambda: not port_open(self.port), timeout=10)

    def is_up(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.exceptions.ConnectionError:
            return False
        finally:
            client.close()

    def ensure_up(self) -> None:
        if not self.is_up():
            self.start()

    def flushall(self) -> None:
        import redis

        with redis.Redis(port=self.port) as client:
            client.flushall()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


# --- SMTP -----------------------------------------------------------------------------------


class SMTPSink:
    """aiosmtpd on loopback keeping every message it is given, parsed."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[email.message.EmailMessage] = []
        self._lock = threading.Lock()
        self._controller = None

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self) -> list[email.message.EmailMessage]:
        with self._lock:
            return list(self.messages)


# --- The project's processes ----------------------------------------------------------------


class Service:
    """One of the project's processes as a child process group, logging to a file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log: Path,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.stop_signal = stop_signal
        self.argv = list(argv)
        self.env = dict(env)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "Service":
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - the project's own commands
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole group (a worker's pool children too), as the OOM killer would."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self) -> None:
        if self.running:
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, self.stop_signal)

    def stop(self, timeout: float = 20) -> None:
        if self.running:
            self.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        elif self.process is not None:
            # The leader is gone; its children (a worker's pool) may not be.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = 30000) -> str:
        return f"--- {self.name} ({self.log}) ---\n{self.log_text()[-chars:]}"


class Stack:
    """The environment the processes share, and the processes started so far (stopped by
    ``close``). ``env`` is what a deployment would set, pointed at the private services."""

    def __init__(
        self,
        *,
        database_url: str,
        redis: RedisServer,
        directory: Path,
        secret_key: str,
        smtp_port: int | None = None,
        **extra: str,
    ) -> None:
        self.directory = directory
        self.redis = redis
        self.web_port = free_port()
        self.site_url = f"http://127.0.0.1:{self.web_port}"
        prefixes = ("DATABASE_", "REDIS_", "EMAIL_", "RAZORPAY_", "CELERY_", "DJANGO_")
        names = {"SECRET_KEY", "DEBUG", "SITE_URL", "VAR_DIR", "MEDIA_ROOT", "LOG_FORMAT"}
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k not in names
        }
        self.env: dict[str, str] = {
            **inherited,
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "billing_portal.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url(0),
            "SECRET_KEY": secret_key,
            "SITE_URL": self.site_url,
            "VAR_DIR": str(directory / "var"),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DEBUG": "false",
            "LOG_FORMAT": "json",
        }
        if smtp_port is not None:
            self.env.update(EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp_port))
            self.env.update(EMAIL_USE_TLS="false", EMAIL_USE_SSL="false")
        self.env.update(extra)
        self.services: list[Service] = []

    def _service(
        self, name: str, argv: Sequence[str], stop_signal: int = signal.SIGTERM, **env: str
    ) -> Service:
        log = self.directory / f"{name}.log"
        service = Service(name, argv, {**self.env, **env}, log, stop_signal)
        self.services.append(service)
        return service

    def worker(self, name: str = "worker", concurrency: int = 1, **env: str) -> Service:
        argv = [
            sys.executable, "-m", "celery", "-A", "billing_portal", "worker",
            "--pool=prefork", f"--concurrency={concurrency}", "--without-gossip",
            "--without-mingle", "--loglevel=INFO", "-n", f"{name}-{os.getpid()}@%h",
        ]  # fmt: skip
        return self._service(name, argv, **env)

    def beat(self, **env: str) -> Service:
        schedule = self.directory / "celerybeat-schedule"
        argv = [
            sys.executable, "-m", "celery", "-A", "billing_portal", "beat",
            "--loglevel=INFO", "--schedule", str(schedule),
        ]  # fmt: skip
        return self._service("beat", argv, **env)

    def web(self, workers: int = 1, threads: int = 4, **env: str) -> Service:
        """gunicorn as the image runs it; threads, because Pay Now calls the sandbox, which is
        served by this same process."""
        argv = [
            sys.executable, "-m", "gunicorn", "billing_portal.wsgi:application",
            "--bind", f"127.0.0.1:{self.web_port}", "--workers", str(workers),
            "--threads", str(threads), "--timeout", "60", "--graceful-timeout", "5",
        ]  # fmt: skip
        # SIGINT: gunicorn's quick shutdown (SIGTERM waits out --graceful-timeout).
        return self._service("web", argv, signal.SIGINT, **env)

    def wait_for_web(self, service: Service, timeout: float = 60) -> None:
        import requests

        def healthy() -> bool:
            if not service.running:
                raise RuntimeError(f"gunicorn exited:\n{service.log_tail()}")
            try:
                return requests.get(f"{self.site_url}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        if not wait_until(healthy, timeout=timeout, interval=0.2):
            raise RuntimeError(f"gunicorn did not answer /healthz:\n{service.log_tail()}")

    def logs(self) -> str:
        return "\n".join(service.log_tail() for service in self.services)

    def close(self) -> None:
        """SIGTERM to every process at once, then wait (each waits out its own shutdown)."""
        for service in self.services:
            service.terminate()
        for service in reversed(self.services):
            service.stop()


def run_manage(env: Mapping[str, str], *args: str, timeout: float = 300) -> None:
    result = subprocess.run(  # noqa: S603 - the project's manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


@contextlib.contextmanager
def timed(figures: dict[str, float], name: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        figures[name] = round(time.monotonic() - started, 2)


# --- A browser without a browser ------------------------------------------------------------


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, object]] = []
        self._current: dict[str, object] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = {"attrs": attributes, "fields": {}}
            self.forms.append(self._current)
        elif (
            tag == "input"
            and self._current is not None
            and "name" in attributes
            and attributes.get("type") not in ("checkbox", "radio", "submit", "button")
        ):
            fields = self._current["fields"]
            assert isinstance(fields, dict)
            fields[attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def html_forms(html: str) -> list[dict[str, object]]:
    """Each form of a page: ``{"attrs": {...}, "fields": {name: value}}`` (text and hidden
    inputs), enough to post what a browser would."""
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON log lines of a process's output (LOG_FORMAT=json), skipping anything else (a
    library's print, Celery's banner)."""
    entries = []
    for line in text.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                entries.append(json.loads(line))
    return entries


def csrf_token(html: str) -> str:
    for form in html_forms(html):
        fields = form["fields"]
        assert isinstance(fields, dict)
        if "csrfmiddlewaretoken" in fields:
            return str(fields["csrfmiddlewaretoken"])
    raise AssertionError("the page has no form with a CSRF token")
