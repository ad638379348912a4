import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from exports.models import ExportJob
from tests.invoices.builders import InvoiceBuilder


@pytest.fixture
def make_invoice(provider, acme, billing_admin) -> InvoiceBuilder:
    return InvoiceBuilder(staff=billing_admin, tenant=acme)


def queue(client, capture_on_commit, url: str, **params) -> ExportJob:
    """Ask for an export too large to answer at once: the view redirects to the new job's page,
    and the (eager) task runs when the request's transaction commits."""
    with capture_on_commit(execute=True):
        response = client.get(url, params)
    assert response.status_code == 302, response.content
    job = ExportJob.objects.latest("pk")
    assert response["Location"] == reverse("exports:detail", kwargs={"job_id": job.pk})
    job.refresh_from_db()
    return job


def download(client, job: ExportJob):
    return client.get(reverse("exports:download", kwargs={"job_id": job.pk}))


def sheet_rows(response, title: str) -> list[tuple]:
    """The cell values of an XLSX response's sheet, header first."""
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return list(workbook[title].iter_rows(values_only=True))
