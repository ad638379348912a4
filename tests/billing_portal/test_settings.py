"""Settings fail loudly on a bad value, and production refuses to start when anything is unsafe."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from billing_portal import env

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "k7#Vq2!rW9zL0pX4mN8sT1uY6bE3cH5jA-zZ0yY9xX8wW7vV6uU5",
    "DATABASE_URL": "postgres://billing@127.0.0.1:5432/billing",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "billing.example.com",
    "EMAIL_HOST": "smtp.example.com",
    "RAZORPAY_KEY_ID": "rzp_live_x",
    "RAZORPAY_KEY_SECRET": "live-secret",
    "RAZORPAY_WEBHOOK_SECRET": "live-webhook-secret",
}


def load_settings(**overrides: str | None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    environment.pop("DEBUG", None)
    for key, value in {**PRODUCTION_ENV, **overrides}.items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    code = (
        "import billing_portal.settings as s;"
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)"
    )
    return subprocess.run(  # noqa: S603 - our own interpreter and a fixed snippet
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_settings_load_with_everything_set():
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "31536000"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY is required"),
        ({"SECRET_KEY": "django-insecure-" + "x" * 60}, "SECRET_KEY must be"),
        ({"DATABASE_URL": None}, "DATABASE_URL is required"),
        ({"REDIS_URL": None}, "REDIS_URL is required"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is required"),
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"RAZORPAY_MODE": "sandbox"}, "sandbox cannot run in production"),
        ({"RAZORPAY_WEBHOOK_SECRET": None}, "RAZORPAY_WEBHOOK_SECRET is required"),
        ({"RAZORPAY_WEBHOOK_SECRET": "sandbox-webhook-secret"}, "sandbox's public secrets"),
        ({"RAZORPAY_KEY_SECRET": "sandbox-key-secret"}, "sandbox's public secrets"),
        ({"SECRET_KEY": "short-but-not-default"}, "SECRET_KEY must be"),
        ({"EMAIL_HOST": None}, "EMAIL_HOST is required"),
        ({"DEBUG": "maybe"}, "is not a boolean"),
        ({"DATABASE_POOL_MAX": "ten"}, "is not a whole number"),
        ({"DJANGO_ENV": "staging"}, "is not one of development, production"),
    ],
)
def test_production_refuses_to_start_when_something_is_missing_or_unsafe(overrides, message):
    result = load_settings(**overrides)
    assert result.returncode != 0
    assert message in result.stderr


def test_secrets_can_come_from_a_file(tmp_path, monkeypatch):
    secret = tmp_path / "key"
    secret.write_text("from-a-file\n")
    monkeypatch.delenv("SOME_SECRET", raising=False)
    monkeypatch.setenv("SOME_SECRET_FILE", str(secret))
    assert env.env_str("SOME_SECRET", required=True) == "from-a-file"


def test_an_unreadable_secret_file_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("SOME_SECRET", raising=False)
    monkeypatch.setenv("SOME_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="SOME_SECRET_FILE"):
        env.env_str("SOME_SECRET", required=True)


def test_helpers_read_and_reject(monkeypatch):
    monkeypatch.setenv("X_BOOL", "Yes")
    monkeypatch.setenv("X_INT", "-3")
    monkeypatch.setenv("X_LIST", "a.example, b.example,,")
    assert env.env_bool("X_BOOL", False) is True
    assert env.env_list("X_LIST", []) == ["a.example", "b.example"]
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        env.env_int("X_INT", 1, minimum=0)
    assert env.env_int("X_UNSET_INT", 7) == 7


def test_production_names_every_problem_at_once():
    result = load_settings(DEBUG="true", RAZORPAY_MODE="sandbox", SECRET_KEY="x" * 10)
    assert result.returncode != 0
    for message in ("DEBUG must be off", "sandbox cannot run", "SECRET_KEY must be"):
        assert message in result.stderr


def production_errors(settings) -> list[str]:
    from django.core import checks

    return sorted(
        message.id
        for message in checks.run_checks(tags=[checks.Tags.security])
        if message.id and message.id.startswith("billing_portal.")
    )


def test_the_system_check_passes_production_settings_and_ignores_development(settings):
    settings.PRODUCTION = False  # the test run's own settings: development, sandbox, DEBUG off
    assert production_errors(settings) == []
    settings.PRODUCTION = True
    settings.DEBUG = False
    settings.SECRET_KEY = PRODUCTION_ENV["SECRET_KEY"]
    settings.ALLOWED_HOSTS = ["billing.example.com"]
    settings.RAZORPAY_MODE = "live"
    settings.RAZORPAY_KEY_SECRET = "live-secret"
    settings.RAZORPAY_WEBHOOK_SECRET = "live-webhook-secret"
    assert production_errors(settings) == []


def test_the_system_check_refuses_settings_changed_after_loading(settings):
    """A settings module that imports ours and changes it gets past the start-up refusal; the
    check, which manage.py check and migrate run, does not let it through."""
    settings.PRODUCTION = True
    settings.DEBUG = True
    settings.SECRET_KEY = "django-insecure-" + "x" * 60
    settings.ALLOWED_HOSTS = []
    settings.RAZORPAY_MODE = "sandbox"
    settings.RAZORPAY_KEY_SECRET = "live-secret"
    settings.RAZORPAY_WEBHOOK_SECRET = ""
    assert production_errors(settings) == [f"billing_portal.E00{n}" for n in range(1, 6)]
    settings.RAZORPAY_WEBHOOK_SECRET = "sandbox-webhook-secret"
    assert "billing_portal.E006" in production_errors(settings)
