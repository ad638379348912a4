import pytest

from tests.invoices.builders import InvoiceBuilder


@pytest.fixture
def make_invoice(provider, acme, billing_admin) -> InvoiceBuilder:
    return InvoiceBuilder(staff=billing_admin, tenant=acme)


@pytest.fixture
def inprocess_http(monkeypatch):
    """Outbound HTTP answered by this Django app, inside the test's transaction.

    ``payments.transport.session()`` is replaced: the Sessions it hands out send every request to
    ``settings.SITE_URL`` (so ``settings.RAZORPAY_BASE_URL`` in sandbox mode) and to
    ``http://testserver`` through the Django test client, and refuse any other address with a
    ``requests.ConnectionError``. The real SDK then talks to the sandbox::

        def test_pay_now(inprocess_http, django_capture_on_commit_callbacks):
            client = razorpay.Client(
                session=transport.session(),
                auth=(settings.RAZORPAY_KEY_ID, settings.RAZORPAY_KEY_SECRET),
                base_url=settings.RAZORPAY_BASE_URL,
            )
            order = client.order.create({"amount": 50000, "currency": "INR"})
            with django_capture_on_commit_callbacks(execute=True):
                ...  # the checkout POST: webhooks are delivered when the callbacks run
            [hook.headers["X-Razorpay-Event-Id"] for hook in inprocess_http.to(webhook_url)]

    Code under test must call ``transport.session()`` through the module (``from payments import
    transport``), not a name imported from it, or it keeps the real function.

    What the fixture returns (``payments.sandbox.inprocess.InProcessHTTP``):

    * ``exchanges``: every request answered, with its response, oldest first; ``to(url)`` filters
      by URL, ``clear()`` empties the log;
    * ``stub(url, status=200, body=b"")``: answer that URL with a fixed reply instead of the app
      (e.g. a webhook target that returns 500, to exercise the sandbox's retries).

    CSRF is enforced as for a real outside caller; a view's exception propagates to the test;
    cookies travel only in a request's own Cookie header. Webhooks and refund settlements are
    queued with ``transaction.on_commit``: run them with
    ``django_capture_on_commit_callbacks(execute=True)``.
    """
    from payments import transport
    from payments.sandbox.inprocess import InProcessHTTP

    http = InProcessHTTP()
    monkeypatch.setattr(transport, "session", http.session)
    return http
