"""Settings for the billing portal, read from the environment.

Two modes (see README "Production settings"):

* Embedded default, nothing set: SQLite in var/, Celery tasks run eagerly in-process, email written
  to var/mail/, payments through the built-in Razorpay sandbox. ``make demo`` runs this.
* ``DJANGO_ENV=production``: PostgreSQL (``DATABASE_URL``, psycopg 3 with a connection pool), Redis
  (``REDIS_URL``, Celery broker and cache), SMTP, live Razorpay keys, HTTPS-only cookies and HSTS.
  The process refuses to start when anything it needs is missing or unsafe.

``DATABASE_URL`` and ``REDIS_URL`` are honoured in either mode, so the test suite and a developer's
machine can run against PostgreSQL and Redis without the production hardening.
"""

from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from billing_portal.checks import (
    INSECURE_DEV_SECRET_KEY,
    SANDBOX_KEY_SECRET,
    SANDBOX_WEBHOOK_SECRET,
    production_problems,
)
from billing_portal.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_optional,
    env_str,
)
from billing_portal.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

ENVIRONMENT = env_choice("DJANGO_ENV", "development", ("development", "production"))
PRODUCTION = ENVIRONMENT == "production"

SECRET_KEY = (
    env_str("SECRET_KEY", required=True)
    if PRODUCTION
    else env_str("SECRET_KEY", INSECURE_DEV_SECRET_KEY)
)
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver", "[::1]"]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "django_htmx",
    "billing_portal",
    "tenants",
    "usage",
    "invoices",
    "payments",
    "payments.sandbox",
    "exports",
]

MIDDLEWARE = [
    # First: every later middleware's log lines carry the request id (docs/operations.md).
    "billing_portal.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "tenants.middleware.ActiveTenantMiddleware",
]

if PRODUCTION:
    # gunicorn serves the collected, hashed static files; runserver serves them in development.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "billing_portal.urls"
WSGI_APPLICATION = "billing_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.portal",
            ],
            "builtins": ["billing_portal.templatetags.portal"],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = (
    env_str("DATABASE_URL", required=True) if PRODUCTION else env_optional("DATABASE_URL")
)
if DATABASE_URL:
    try:
        _database = dj_database_url.parse(DATABASE_URL)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {exc}") from exc
    if _database["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_POOL", True):
        # psycopg's pool replaces persistent connections; Django requires CONN_MAX_AGE = 0 with it.
        _database["CONN_MAX_AGE"] = 0
        _database.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DATABASE_POOL_MIN", 1, minimum=0),
            "max_size": env_int("DATABASE_POOL_MAX", 10, minimum=1),
            "timeout": env_int("DATABASE_POOL_TIMEOUT", 10, minimum=1),
        }
        # The pool checks a connection before lending it (an empty round trip), so requests after
        # a database restart get a fresh connection, not a dead one that fails them.
        _database["CONN_HEALTH_CHECKS"] = env_bool("DATABASE_HEALTH_CHECKS", True)
    DATABASES = {"default": _database}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "db.sqlite3"),
            "OPTIONS": {
                # WAL and immediate transactions keep runserver's threads from tripping over
                # "database is locked" when a write follows a read in the same transaction.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache and Celery broker ---------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", required=True) if PRODUCTION else env_optional("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "billing"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "Asia/Kolkata"
# A task taken by a worker that dies without acknowledging it goes back to the queue after this
# many seconds. It must be longer than any countdown (the longest is the sandbox's webhook retry,
# 30 minutes): a message waiting on its ETA past it would be delivered twice. A task that runs
# longer than it is delivered again while it runs; every long task here claims its work, so the
# second delivery finds nothing to do.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)
}
# No task runs unbounded; tasks with more work set their own, larger limits.
CELERY_TASK_SOFT_TIME_LIMIT = 5 * 60
CELERY_TASK_TIME_LIMIT = 6 * 60
# The static beat schedule: each later capability adds its jobs here (docs/operations.md).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "flush-email-outbox": {
        # Emails whose task a broker outage lost, and retries that have come due.
        "task": "invoices.tasks.flush_outbox",
        "schedule": env_int("EMAIL_OUTBOX_FLUSH_SECONDS", 5 * 60, minimum=1),
    },
    "monthly-invoice-run": {
        "task": "invoices.tasks.generate_monthly_invoices",
        "schedule": crontab(day_of_month=1, hour=2, minute=0),  # the previous month's drafts
    },
    "monthly-invoice-catch-up": {
        # The same run again: it skips tenants that have their draft, so it only fills in chunks a
        # dead worker lost (a killed worker's task comes back only after the visibility timeout).
        "task": "invoices.tasks.generate_monthly_invoices",
        "schedule": crontab(day_of_month=1, hour=8, minute=0),
    },
    "daily-overdue-sweep": {
        "task": "invoices.tasks.daily_sweep",
        "schedule": crontab(hour=6, minute=30),  # Asia/Kolkata, before the working day
    },
    "reconcile-payments": {
        # Orders still open after 15 minutes, pending refunds, webhook events left unhandled.
        "task": "payments.tasks.reconcile_payments",
        "schedule": 15 * 60,
    },
    "resume-stalled-usage-imports": {
        "task": "usage.tasks.resume_stalled_imports",
        "schedule": 10 * 60,
    },
    "purge-usage-import-files": {
        "task": "usage.tasks.purge_import_files",
        "schedule": crontab(hour=3, minute=15),
    },
    "purge-export-files": {
        "task": "exports.tasks.purge_export_files",
        "schedule": crontab(hour=3, minute=45),
    },
}
# Tenants per task of the monthly run: small enough to retry cheaply and to keep every worker busy,
# large enough that each task's fixed reads are few (measured: 500 drafts 10,000 tenants on two
# workers in 11.4 s where 200 took 12.4 s; docs/benchmarks.md).
INVOICE_RUN_CHUNK = env_int("INVOICE_RUN_CHUNK", 500, minimum=1)
# Tax invoice PDFs render in a separate process (billing_portal/lib/pdfrender.py): the time one
# document may take (seconds) and the memory it may add (MB) before the render is stopped.
PDF_RENDER_TIMEOUT = env_int("PDF_RENDER_TIMEOUT", 30, minimum=1)
PDF_RENDER_MEMORY_MB = env_int("PDF_RENDER_MEMORY_MB", 768, minimum=64)
# Uploaded usage files are removed once imported; a failed upload and the rejected-lines file are
# kept this many days.
USAGE_IMPORT_KEEP_DAYS = env_int("USAGE_IMPORT_KEEP_DAYS", 30, minimum=1)
# Exports of more rows than this (or ZIPs of more PDFs than EXPORT_ZIP_INLINE_MAX) are written by
# a background job, whose page shows its progress and whose link is emailed; files are removed
# after EXPORT_KEEP_DAYS. A PDF report is rendered inline up to EXPORT_PDF_INLINE_MAX_ROWS rows and
# holds at most EXPORT_PDF_MAX_ROWS (2,500 rows take about 40 s on a busy 2-core machine; 5,000
# outgrow the renderer's memory limit): beyond that, XLSX.
EXPORT_INLINE_MAX_ROWS = env_int("EXPORT_INLINE_MAX_ROWS", 5000, minimum=1)
EXPORT_PDF_INLINE_MAX_ROWS = env_int("EXPORT_PDF_INLINE_MAX_ROWS", 250, minimum=1)
EXPORT_PDF_MAX_ROWS = env_int("EXPORT_PDF_MAX_ROWS", 2000, minimum=1)
EXPORT_ZIP_INLINE_MAX = env_int("EXPORT_ZIP_INLINE_MAX", 10, minimum=1)
EXPORT_KEEP_DAYS = env_int("EXPORT_KEEP_DAYS", 7, minimum=1)
EXPORT_TIME_LIMIT = env_int("EXPORT_TIME_LIMIT", 30 * 60, minimum=60)  # seconds, per job
# Reminders: this many days before the due date, on it, then every N days while overdue. A
# tenant is suspended (and billing admins told) this many days after an invoice fell overdue.
REMINDER_DAYS_BEFORE_DUE = env_int("REMINDER_DAYS_BEFORE_DUE", 3, minimum=0)
REMINDER_OVERDUE_EVERY_DAYS = env_int("REMINDER_OVERDUE_EVERY_DAYS", 7, minimum=1)
OVERDUE_GRACE_DAYS = env_int("OVERDUE_GRACE_DAYS", 15, minimum=1)
# Monthly drafts stay editable this many days, then are finalized by the daily sweep.
DRAFT_GRACE_DAYS = env_int("DRAFT_GRACE_DAYS", 3, minimum=0)

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Repeated failures for one username (or from one address) lock sign-in for a while.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60, minimum=1)

# --- Internationalisation -------------------------------------------------------------------
# Django ships no en-IN locale; en-GB gives the day-month-year order Indian users read.
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Asia/Kolkata"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Email ----------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Cirrus Billing <billing@localhost>")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
# Django 6.1's MAILERS replaces EMAIL_BACKEND and the EMAIL_* connection settings.
_email_host = env_optional("EMAIL_HOST")
if _email_host:
    _email_port = env_int("EMAIL_PORT", 587, minimum=1)
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _email_host,
                "port": _email_port,
                "username": env_str("EMAIL_HOST_USER", ""),
                "password": env_str("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env_bool("EMAIL_USE_TLS", default=_email_port == 587),
                "use_ssl": env_bool("EMAIL_USE_SSL", default=_email_port == 465),
                "timeout": env_int("EMAIL_TIMEOUT", 20, minimum=1),
            },
        }
    }
elif PRODUCTION:
    raise ImproperlyConfigured("EMAIL_HOST is required in production (invoices are emailed).")
else:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(VAR_DIR / "mail")},
        }
    }

# --- Razorpay -------------------------------------------------------------------------------
# "sandbox" talks to the project's own Razorpay-compatible endpoints (demo and tests);
# "live" talks to Razorpay with real keys. Production refuses the sandbox.
RAZORPAY_MODE = env_choice(
    "RAZORPAY_MODE", "live" if PRODUCTION else "sandbox", ("sandbox", "live")
)
RAZORPAY_KEY_ID = env_str("RAZORPAY_KEY_ID", "rzp_test_sandbox")
RAZORPAY_KEY_SECRET = env_str("RAZORPAY_KEY_SECRET", SANDBOX_KEY_SECRET)
RAZORPAY_WEBHOOK_SECRET = env_str("RAZORPAY_WEBHOOK_SECRET", SANDBOX_WEBHOOK_SECRET)
# Also accepted while the webhook secret is rotated; unset it once the rotation is done.
RAZORPAY_WEBHOOK_SECRET_PREVIOUS = env_str("RAZORPAY_WEBHOOK_SECRET_PREVIOUS", "")
# The SDK appends /v1/... to this: the sandbox mounts the same paths under /sandbox/razorpay/.
RAZORPAY_BASE_URL = env_str(
    "RAZORPAY_BASE_URL",
    "https://api.razorpay.com" if RAZORPAY_MODE == "live" else f"{SITE_URL}/sandbox/razorpay",
).rstrip("/")
# Seconds before a call to the gateway gives up (connect, read).
RAZORPAY_TIMEOUT = env_int("RAZORPAY_TIMEOUT", 10)
# The sandbox only: where it delivers webhooks, and whether it delivers each one twice and out of
# order (so the demo exercises the paths production does).
RAZORPAY_SANDBOX_WEBHOOK_URL = env_str(
    "RAZORPAY_SANDBOX_WEBHOOK_URL", f"{SITE_URL}/payments/razorpay/webhook"
)
RAZORPAY_SANDBOX_WEBHOOK_CHAOS = env_bool("RAZORPAY_SANDBOX_WEBHOOK_CHAOS", default=True)
# The sandbox only: how a refund settles after it is created ("pending" leaves it for the console).
RAZORPAY_SANDBOX_REFUND_OUTCOME = env_choice(
    "RAZORPAY_SANDBOX_REFUND_OUTCOME", "processed", ("processed", "failed", "pending")
)

# --- Security -------------------------------------------------------------------------------
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# The largest usage file a billing admin may upload for import.
USAGE_IMPORT_MAX_BYTES = env_int("USAGE_IMPORT_MAX_BYTES", 512 * 1024 * 1024, minimum=1024)
# A usage batch of 1,000 records is about 0.5 MB of JSON; leave room, refuse more (413).
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 60 * 60, minimum=60)

if PRODUCTION:
    for _name in ("RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET"):
        env_str(_name, required=True)
    # Every problem at once; billing_portal/checks.py runs the same rules as a system check.
    _problems = production_problems(globals())
    if _problems:
        raise ImproperlyConfigured(" ".join(message for _, message in _problems))
    # Off only for plain-HTTP trials such as docker compose on localhost (check --deploy warns).
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # The container health check and the load balancer probe /healthz over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("SECURE_PROXY_SSL_HEADER", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Logging --------------------------------------------------------------------------------
# One line per record on stderr with the request id (and the Celery task) that caused it: JSON
# objects in production for a log collector, readable text in development (billing_portal/logs.py).
LOG_FORMAT = env_choice("LOG_FORMAT", "json" if PRODUCTION else "text", ("json", "text"))
LOGGING = logging_config(json_lines=LOG_FORMAT == "json", level=env_str("LOG_LEVEL", "INFO"))
