"""Exports too large to answer at once: a job writes the file, its page follows the progress, the
requester is emailed, and only the requester and staff who export can open it."""

import datetime
import io
import zipfile
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from exports import services
from exports.models import ExportJob
from invoices.models import Invoice
from invoices.pdf import invoice_pdf_filename
from tests.conftest import client_for
from tests.exports.conftest import download
from tests.exports.conftest import queue as queue_export
from tests.factories import UserFactory

S = Invoice.Status
EXPORT = "/invoices/export"


@pytest.fixture(autouse=True)
def _small_limits(settings, tmp_path):
    settings.EXPORT_INLINE_MAX_ROWS = 1
    settings.EXPORT_ZIP_INLINE_MAX = 1
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def three(make_invoice, globex):
    return [
        make_invoice(S.SENT),
        make_invoice(S.PAID),
        make_invoice(S.SENT, tenant=globex),
    ]


def queue(client, django_capture_on_commit_callbacks, **params) -> ExportJob:
    job = queue_export(client, django_capture_on_commit_callbacks, EXPORT, **params)
    assert ExportJob.objects.get() == job
    return job


class TestTheJob:
    def test_a_large_export_becomes_a_job_that_writes_the_file_and_emails_the_link(
        self, three, finance, django_capture_on_commit_callbacks
    ):
        finance.email = "farhan@cirrus.example"
        finance.save()
        client = client_for(finance)
        job = queue(
            client, django_capture_on_commit_callbacks, format="xlsx", status=["sent", "paid"]
        )
        assert (job.status, job.kind, job.format, job.row_count) == ("done", "invoices", "xlsx", 3)
        assert job.params["status"] == ["sent", "paid"]
        assert job.filename.endswith(".xlsx")

        response = download(client, job)
        assert response.status_code == 200
        assert f'filename="{job.filename}"' in response["Content-Disposition"]
        sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)))["Invoices"]
        numbers = [r[0].value for r in sheet.iter_rows(min_row=2)][:-1]
        assert sorted(numbers) == sorted(i.number for i in three)
        assert D(str(sheet.cell(row=5, column=18).value)) == sum(i.total for i in three)

        (email,) = mail.outbox
        assert email.to == ["farhan@cirrus.example"]
        assert "ready" in email.subject.lower()
        assert f"/exports/{job.pk}/" in email.body

    def test_the_page_shows_progress_and_polls_until_done(self, three, finance):
        job = ExportJob.objects.create(
            requester=finance,
            kind="invoices",
            format="csv",
            status="running",
            row_count=1000,
            progress=250,
        )
        client = client_for(finance)
        url = reverse("exports:detail", kwargs={"job_id": job.pk})
        page = client.get(url).content.decode()
        assert "25%" in page
        assert 'hx-trigger="every 2s"' in page
        fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
        assert fragment.lstrip().startswith('<section id="export-progress"')
        assert "<html" not in fragment
        ExportJob.objects.filter(pk=job.pk).update(status="done", progress=1000)
        assert "every 2s" not in client.get(url).content.decode()

    def test_running_the_task_again_changes_nothing(
        self, three, finance, django_capture_on_commit_callbacks
    ):
        finance.email = "farhan@cirrus.example"
        finance.save()
        job = queue(client_for(finance), django_capture_on_commit_callbacks, format="csv")
        first = job.file.name
        assert services.export_job_run(job_id=job.pk) == "not queued"
        job.refresh_from_db()
        assert (job.status, job.file.name, job.attempts) == ("done", first, 1)
        assert len(mail.outbox) == 1

    def test_a_job_whose_worker_died_is_taken_over(self, three, finance):
        job = ExportJob.objects.create(
            requester=finance,
            kind="invoices",
            format="csv",
            status="running",
            attempts=1,
            progress_at=timezone.now() - datetime.timedelta(minutes=30),
        )
        assert services.export_job_run(job_id=job.pk) == "done"
        job.refresh_from_db()
        assert (job.status, job.attempts, job.row_count) == ("done", 2, 3)

    def test_a_requester_who_lost_the_right_gets_a_failed_job_not_a_file(self, three, finance):
        job = ExportJob.objects.create(requester=finance, kind="invoices", format="csv")
        finance.groups.get().permissions.remove(Permission.objects.get(codename="export_invoice"))
        assert services.export_job_run(job_id=job.pk) == "failed"
        job.refresh_from_db()
        assert job.status == "failed"
        assert "no longer" in job.error
        assert not job.file

    def test_staff_who_may_no_longer_read_payments_get_a_failed_payments_job(self, finance):
        job = ExportJob.objects.create(requester=finance, kind="payments", format="csv")
        finance.groups.get().permissions.remove(Permission.objects.get(codename="view_payment"))
        assert services.export_job_run(job_id=job.pk) == "failed"
        job.refresh_from_db()
        assert "no longer" in job.error
        assert not job.file

    @pytest.mark.parametrize(
        ("params", "error"),
        [
            ({"from": ["2026-12-01"], "to": ["2026-11-01"]}, "The start of the range is after"),
            ({"tenant": ["999999"]}, "no longer exists"),
        ],
    )
    def test_a_usage_job_whose_filters_no_longer_hold_fails_and_says_why(
        self, finance, params, error
    ):
        job = ExportJob.objects.create(requester=finance, kind="usage", format="csv", params=params)
        assert services.export_job_run(job_id=job.pk) == "failed"
        job.refresh_from_db()
        assert error in job.error
        assert not job.file

    def test_a_customers_job_holds_their_organisation_only(
        self, three, owner, django_capture_on_commit_callbacks
    ):
        job = queue(client_for(owner), django_capture_on_commit_callbacks, format="csv")
        assert job.tenant_id == three[0].tenant_id
        body = b"".join(download(client_for(owner), job).streaming_content).decode()
        assert three[0].number in body
        assert three[1].number in body
        assert three[2].number not in body  # Globex's

    def test_old_files_are_purged_and_the_row_kept(
        self, three, finance, django_capture_on_commit_callbacks, settings
    ):
        job = queue(client_for(finance), django_capture_on_commit_callbacks, format="csv")
        path = job.file.path
        later = timezone.now() + datetime.timedelta(days=settings.EXPORT_KEEP_DAYS + 1)
        assert services.export_files_purge(now=later) == {"removed": 1, "abandoned": 0}
        job.refresh_from_db()
        assert job.status == "expired"
        assert not job.file
        import os

        assert not os.path.exists(path)
        assert download(client_for(finance), job).status_code == 404


class TestWhoOpensAJob:
    @pytest.fixture
    def job(self, three, owner, django_capture_on_commit_callbacks):
        return queue(client_for(owner), django_capture_on_commit_callbacks, format="csv")

    def test_the_requester_and_staff_who_export_open_it(self, job, owner, finance, billing_admin):
        for user in (owner, finance, billing_admin):
            assert download(client_for(user), job).status_code == 200

    def test_anyone_else_gets_404_as_for_a_missing_job(
        self, job, member_admin, viewer, other_owner
    ):
        for user in (member_admin, viewer, other_owner):
            client = client_for(user)
            assert download(client, job).status_code == 404
            detail = reverse("exports:detail", kwargs={"job_id": job.pk})
            assert client.get(detail).status_code == 404
        missing = reverse("exports:detail", kwargs={"job_id": job.pk + 1000})
        assert client_for(other_owner).get(missing).status_code == 404

    def test_staff_who_may_not_export_get_403(self, job, finance):
        finance.groups.get().permissions.remove(Permission.objects.get(codename="export_invoice"))
        assert download(client_for(finance), job).status_code == 403

    def test_a_requester_who_left_the_organisation_gets_404(self, job, owner):
        owner.memberships.all().delete()
        assert download(client_for(owner), job).status_code == 404

    def test_the_list_shows_ones_own_jobs(self, job, owner, other_owner):
        assert f"#{job.pk}" in client_for(owner).get(reverse("exports:list")).content.decode()
        theirs = client_for(other_owner).get(reverse("exports:list")).content.decode()
        assert f"#{job.pk}" not in theirs


class TestPdfZip:
    def test_a_few_pdfs_stream_at_once(self, three, billing_admin, settings):
        settings.EXPORT_ZIP_INLINE_MAX = 5
        response = client_for(billing_admin).post(
            reverse("invoices:bulk"),
            {"action": "download_pdfs", "ids": [three[0].pk, three[2].pk]},
        )
        assert response.status_code == 200
        assert response["Content-Type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
        assert sorted(archive.namelist()) == sorted(
            invoice_pdf_filename(i) for i in (three[0], three[2])
        )
        assert all(archive.read(n).startswith(b"%PDF") for n in archive.namelist())

    def test_many_become_a_job_and_drafts_are_left_out(
        self, three, make_invoice, billing_admin, django_capture_on_commit_callbacks
    ):
        draft = make_invoice(S.DRAFT)
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(billing_admin).post(
                reverse("invoices:bulk"),
                {"action": "download_pdfs", "ids": [i.pk for i in [*three, draft]]},
            )
        job = ExportJob.objects.get()
        assert response.status_code == 302
        assert (job.kind, job.status, job.row_count) == ("invoice_pdfs", "done", 3)
        content = b"".join(download(client_for(billing_admin), job).streaming_content)
        names = zipfile.ZipFile(io.BytesIO(content)).namelist()
        assert sorted(names) == sorted(invoice_pdf_filename(i) for i in three)

    def test_customers_and_staff_who_may_not_export_are_refused(self, three, owner, finance):
        data = {"action": "download_pdfs", "ids": [three[0].pk]}
        assert client_for(owner).post(reverse("invoices:bulk"), data).status_code == 403
        finance.groups.get().permissions.remove(Permission.objects.get(codename="export_invoice"))
        assert client_for(finance).post(reverse("invoices:bulk"), data).status_code == 403


def test_an_unknown_user_of_no_organisation_gets_404(three):
    loner = UserFactory(username="loner")
    assert client_for(loner).get(reverse("exports:list")).status_code == 200
    job = ExportJob.objects.create(requester=UserFactory(), kind="invoices", format="csv")
    assert client_for(loner).get(reverse("exports:detail", args=[job.pk])).status_code == 404


def test_a_long_pdf_report_is_a_job_and_a_huge_one_is_refused(
    three, finance, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_INLINE_MAX_ROWS = 100
    settings.EXPORT_PDF_INLINE_MAX_ROWS = 2
    job = queue(client_for(finance), django_capture_on_commit_callbacks, format="pdf")
    assert (job.status, job.format, job.row_count) == ("done", "pdf", 3)
    content = b"".join(download(client_for(finance), job).streaming_content)
    assert content.startswith(b"%PDF")
    settings.EXPORT_PDF_MAX_ROWS = 2
    response = client_for(finance).get(EXPORT, {"format": "pdf"})
    assert response.status_code == 400
    assert "export XLSX" in response.content.decode()
