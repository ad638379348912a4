import pytest

from tests.invoices.builders import InvoiceBuilder


@pytest.fixture
def make_invoice(provider, acme, billing_admin) -> InvoiceBuilder:
    return InvoiceBuilder(staff=billing_admin, tenant=acme)
