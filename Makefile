# The two commands a new machine needs: `make demo` and `make test`. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PORT ?= 8000
HOST ?= 127.0.0.1
# uv from PATH when it runs; otherwise a copy installed into .tools/ from PyPI (no curl | sh).
UV := $(shell uv --version >/dev/null 2>&1 && echo uv || echo $(CURDIR)/.tools/uv-pkg/bin/uv)
export UV_PYTHON_DOWNLOADS := never
PYTHON := .venv/bin/python
MANAGE := $(PYTHON) manage.py

.PHONY: help uv sync demo seed serve test test-fast lint format worker beat bench bench-large migrate clean

help:
	@echo "make demo    set up, load the demo data and serve on http://$(HOST):$(PORT)"
	@echo "make test    set up and run the whole test suite (PostgreSQL when DATABASE_URL is set)"
	@echo "make lint    ruff and mypy"
	@echo "make worker  a Celery worker     make beat  the Celery beat scheduler"
	@echo "make bench   the benchmarks (docs/benchmarks.md)"
	@echo "make bench-large  the usage benchmarks at 10,000 tenants and 10,000,000 records"

$(CURDIR)/.tools/uv-pkg/bin/uv:
	python3 -m pip install --quiet --disable-pip-version-check --target .tools/uv-pkg uv

uv: $(if $(filter uv,$(UV)),,$(CURDIR)/.tools/uv-pkg/bin/uv)

sync: uv
	$(UV) sync --frozen

migrate: sync
	$(MANAGE) migrate --noinput

seed: migrate
	$(MANAGE) seed_demo

demo: seed
	@echo "Serving the demo on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	SITE_URL="$${SITE_URL:-http://$(HOST):$(PORT)}" $(MANAGE) runserver $(HOST):$(PORT) --noreload

test: sync
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint: sync
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy billing_portal tenants usage invoices payments exports

format: sync
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

worker: sync
	.venv/bin/celery -A billing_portal worker --loglevel=INFO

beat: sync
	.venv/bin/celery -A billing_portal beat --loglevel=INFO --schedule var/celerybeat-schedule

bench: sync
	$(PYTHON) -m bench

# The usage benchmarks (import, HTTP ingest, monthly run) at full size; about 15 GB of disk.
bench-large: sync
	BENCH_SCALE=large $(PYTHON) -m bench usage

clean:
	rm -rf .venv .tools var staticfiles .pytest_cache .mypy_cache .ruff_cache
