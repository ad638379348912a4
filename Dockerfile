# syntax=docker/dockerfile:1
#
# Billing portal image. Its default command is the gunicorn web server; the same image runs the
# Celery worker and Celery beat (docker-compose.yml shows all three). It is built for
# DJANGO_ENV=production: every setting comes from the environment at run time (README
# "Production settings"); secrets can also be given as files (NAME_FILE=/run/secrets/name).
#
#   docker build -t billing-portal .
#   docker run --env-file prod.env -p 8000:8000 billing-portal                # gunicorn
#   docker run --env-file prod.env billing-portal web-migrate                 # migrate, then gunicorn
#   docker run --env-file prod.env billing-portal celery -A billing_portal worker -l INFO
#
# gunicorn reads GUNICORN_WORKERS (default 3), GUNICORN_THREADS (1) and GUNICORN_TIMEOUT (60);
# see docker/entrypoint.sh.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# --- Stage 1: the locked dependencies, resolved into /app/.venv -----------------------------------
FROM ${PYTHON_IMAGE} AS build

# uv from PyPI with pip, as the Makefile does (no curl | sh installer). Every production
# dependency in uv.lock ships a wheel for CPython 3.12 on x86_64 and aarch64, so no compiler.
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m pip install "uv==${UV_VERSION}"

ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.12 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app
# Only the files that decide the dependencies: this layer is reused until uv.lock changes.
COPY pyproject.toml uv.lock .python-version ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# --- Stage 2: the runtime image ----------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# What WeasyPrint loads at run time (Pango, HarfBuzz subsetting, fonts), and curl for the
# health check (docker-compose.yml).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        libharfbuzz-subset0 \
        fonts-dejavu-core \
        fonts-noto-core \
        curl \
 && rm -rf /var/lib/apt/lists/*

# An unprivileged user; its home gives fontconfig a writable cache.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/app/.venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=billing_portal.settings

WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# The source stays owned by root (read-only for the app user); only staticfiles/ (collectstatic
# runs again when the compose web service starts) and var/ (VAR_DIR, MEDIA_ROOT) are writable.
COPY . .
# var/media is a volume in docker-compose.yml: a new volume takes this directory's owner.
RUN install -d -o app -g app /app/staticfiles /app/var /app/var/media

USER app

# collectstatic with production settings, so whitenoise's CompressedManifestStaticFilesStorage
# writes the hashed and compressed files. The values below are build-time placeholders that only
# get settings past their production checks; they live in this RUN step alone, not in the
# image's environment, and nothing here connects to a database, Redis or SMTP.
RUN DJANGO_ENV=production \
    SECRET_KEY=build-only-collectstatic-7Qm2vX9pLr4Tn8Kd3Wf6Hs1Zc5Jb0Ye7Ua2Gx4Nq \
    DATABASE_URL=postgres://build:build@localhost:5432/build \
    REDIS_URL=redis://localhost:6379/0 \
    ALLOWED_HOSTS=localhost \
    EMAIL_HOST=localhost \
    RAZORPAY_KEY_ID=build-placeholder \
    RAZORPAY_KEY_SECRET=build-placeholder \
    RAZORPAY_WEBHOOK_SECRET=build-placeholder \
    python manage.py collectstatic --noinput

EXPOSE 8000
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["web"]
