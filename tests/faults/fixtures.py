"""Fixtures for tests that run the project's processes against private PostgreSQL and Redis.

Import them into a conftest (``from tests.faults.fixtures import *``). ``stack_db`` must be set up
before any fixture that writes rows (``acme``, ``provider``...): list it first, or make it
autouse as ``tests/faults/conftest.py`` does. From then on the test's own ORM reads and writes
the private database, the one the processes use.

* ``pg_cluster`` (session): a private PostgreSQL cluster, and a database migrated once by
  ``manage.py migrate`` that each test copies (``CREATE DATABASE ... TEMPLATE``, under a second).
* ``redis_server`` (session): a private redis-server, flushed for each test.
* ``stack_db``: the test's own copy of the migrated database; Django's default connection points
  at it for the test (the shared test database is left alone and restored afterwards).
* ``stack``: a ``Stack`` for starting gunicorn, workers and beat against both; they are stopped
  at the end, and their logs are printed when the test fails.
* ``smtp_sink``: an SMTP server on loopback (``stack`` sends mail to it when both are used).
* ``figures``: ``figures("...")`` keeps a line of a test's figures, printed in a "figures" section
  at the end of the run, so that CI's output shows them whether or not pytest captures output.
"""

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.db import connections
from django.db.utils import load_backend

from tests.faults.stack import (
    PostgresCluster,
    RedisServer,
    SMTPSink,
    Stack,
    Unavailable,
    run_manage,
)

TEMPLATE_DATABASE = "portal_migrated"
_copies = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster()
    except Unavailable as missing:
        pytest.skip(str(missing))
    try:
        cluster.init()
        cluster.start()
        cluster.execute(f"CREATE DATABASE {TEMPLATE_DATABASE}")
        run_manage(
            {
                **_plain_env(),
                "DATABASE_URL": cluster.url(TEMPLATE_DATABASE),
                "DATABASE_POOL": "false",
            },
            "migrate",
            "--noinput",
            "-v0",
        )
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
    except Unavailable as missing:
        pytest.skip(str(missing))
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@dataclass
class StackDatabase:
    name: str
    url: str
    cluster: PostgresCluster

    def reconnect(self) -> None:
        """Drop the test's own connection (after a restart it is dead; Django does not retry)."""
        connections["default"].close()


@pytest.fixture
def stack_db(db, pg_cluster) -> Iterator[StackDatabase]:
    """A fresh copy of the migrated database, with the test's ORM pointed at it.

    ``db`` comes first so that pytest-django's transaction is opened on the shared test
    database's connection, which is put back before that transaction is rolled back. The test's
    connection to the private database is in autocommit, as the processes' are: on_commit
    callbacks run at once, and every row is visible to gunicorn and the workers straight away.
    """
    from django.contrib.contenttypes.models import ContentType

    pg_cluster.ensure_up()  # a test that failed half-way may have left it stopped
    name = f"portal_test_{next(_copies)}"
    pg_cluster.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DATABASE}")
    original = connections["default"]
    settings_dict = {
        **original.settings_dict,
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": "127.0.0.1",
        "PORT": str(pg_cluster.port),
        "OPTIONS": {},  # no pool in the test process: one plain connection it can drop
        "CONN_MAX_AGE": 0,
    }
    wrapper = load_backend("django.db.backends.postgresql").DatabaseWrapper(
        settings_dict, "default"
    )
    # Content types are cached by id, and the ids differ from the shared test database's.
    ContentType.objects.clear_cache()
    connections["default"] = wrapper
    try:
        yield StackDatabase(name=name, url=pg_cluster.url(name), cluster=pg_cluster)
    finally:
        wrapper.close()
        connections["default"] = original
        ContentType.objects.clear_cache()
        pg_cluster.ensure_up()
        pg_cluster.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def stack_redis(redis_server) -> RedisServer:
    redis_server.ensure_up()
    redis_server.flushall()
    return redis_server


@pytest.fixture
def smtp_sink() -> Iterator[SMTPSink]:
    sink = SMTPSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def stack(request, stack_db, stack_redis, tmp_path) -> Iterator[Stack]:
    smtp = request.getfixturevalue("smtp_sink") if "smtp_sink" in request.fixturenames else None
    running = Stack(
        database_url=stack_db.url,
        redis=stack_redis,
        directory=tmp_path,
        secret_key=settings.SECRET_KEY,
        smtp_port=smtp.port if smtp else None,
    )
    try:
        yield running
    finally:
        running.close()
        # Captured: pytest shows it with a failing test's report only.
        print(running.logs())


def _plain_env() -> dict[str, str]:
    import os

    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "DJANGO_")) and k != "DEBUG"
    }


@pytest.fixture(autouse=True)
def _celery_current_app_kept() -> Iterator[None]:
    """Put the project's Celery app back as the current one after each test.

    A test that sends tasks to a real worker makes a Celery app of its own, and a new app makes
    itself the current one unless told otherwise: the project's shared tasks, which later tests
    run eagerly in this process, would then resolve to that app, where a task module imported
    after it was made is not registered (``NotRegistered: payments.sandbox.tasks...``)."""
    from celery import _state

    app = _state.get_current_app()
    yield
    app.set_current()


FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def figures(request) -> Callable[[str], None]:
    """Keep a line of figures for the end of the run (see ``pytest_terminal_summary``)."""
    lines = request.config.stash.setdefault(FIGURES, [])

    def keep(line: str) -> None:
        lines.append(f"{request.node.name}: {line}")

    return keep


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Print the figures the tests kept. Every conftest that imports these fixtures registers
    this hook too: the first call prints the lines and empties the list, later calls find none."""
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("figures")
        for line in lines:
            terminalreporter.write_line(line)
        lines.clear()
