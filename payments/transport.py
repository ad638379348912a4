"""The one place outbound HTTP sessions come from: the gateway's SDK client and the sandbox's
webhook deliveries both take theirs from :func:`session`.

Tests replace :func:`session` to route requests into the Django app in-process (see
``tests/payments/transport.py``), so the real SDK and the real signed webhooks run inside a test's
transaction; the live-server tests keep the real network path.
"""

import requests


def session() -> requests.Session:
    return requests.Session()
