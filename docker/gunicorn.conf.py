"""gunicorn's own lines (the master's start, worker boots and exits) in the application's format:
JSON objects in production, like every other line (billing_portal/logs.py). docker/entrypoint.sh
passes it with --config; the application's request line replaces gunicorn's access log."""

import os

from billing_portal.logs import logging_config

logconfig_dict = logging_config(
    json_lines=os.environ.get("LOG_FORMAT", "json") == "json",
    level=os.environ.get("LOG_LEVEL", "INFO"),
)
