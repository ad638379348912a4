"""``make_invoice(status, ...)``: a draft walked to any status through the services."""

import pytest

from tests.invoices.builders import InvoiceBuilder
from tests.payments.conftest import inprocess_http  # noqa: F401 - Pay Now reaches the sandbox


@pytest.fixture
def make_invoice(provider, acme, billing_admin) -> InvoiceBuilder:
    return InvoiceBuilder(staff=billing_admin, tenant=acme)
