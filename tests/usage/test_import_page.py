"""/usage/imports/: billing admins upload a file, a Celery job imports it, the page follows."""

import csv
import gzip
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.conftest import client_for
from usage.models import UsageImport, UsageRecord

LIST = "/usage/imports/"
HEADER = "tenant_id,meter,resource_id,quantity,window_start,window_end,idempotency_key,gpu_type\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def csv_bytes(tenant, count=3, bad=0):
    lines = [
        f"{tenant.pk},vcpu_hours,vm-{i},1.5,2026-10-01T00:00:00Z,2026-10-01T01:00:00Z,k{i},\n"
        for i in range(count)
    ]
    lines += [
        f"{tenant.pk},gpu_hours,gpu-{i},1,2026-10-01T00:00:00Z,2026-10-01T01:00:00Z,g{i},\n"
        for i in range(bad)  # a GPU record without its gpu_type
    ]
    return (HEADER + "".join(lines)).encode()


def upload(client, name, content, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(LIST, {"file": SimpleUploadedFile(name, content)})


def test_the_urls_are_where_the_include_puts_them():
    assert reverse("usage_imports:list") == LIST
    assert reverse("usage_imports:detail", args=[7]) == "/usage/imports/7/"


def test_a_billing_admin_uploads_a_csv_and_the_job_imports_it(
    acme, billing_admin, media, django_capture_on_commit_callbacks
):
    client = client_for(billing_admin)
    response = upload(
        client, "october.csv", csv_bytes(acme, 3, bad=1), django_capture_on_commit_callbacks
    )
    job = UsageImport.objects.get()
    assert response.status_code == 302
    assert response.url == f"/usage/imports/{job.pk}/"
    assert (job.status, job.rows_read, job.accepted, job.duplicates, job.rejected) == (
        "done",
        4,
        3,
        0,
        1,
    )
    assert (job.original_name, job.format, job.uploaded_by) == ("october.csv", "csv", billing_admin)
    assert Path(job.file.path).parent == Path(media) / "imports"
    assert UsageRecord.objects.filter(tenant=acme, source="import").count() == 3

    page = client.get(response.url)
    body = page.content.decode()
    assert page.status_code == 200
    assert "october.csv" in body
    assert '<dd data-count="accepted">3</dd>' in body
    assert '<dd data-count="rejected">1</dd>' in body
    assert 'hx-trigger="every 2s"' not in body  # done: nothing more to poll
    assert reverse("usage_imports:rejects", args=[job.pk]) in body

    listing = client.get(LIST).content.decode()
    assert f'href="/usage/imports/{job.pk}/"' in listing


def test_a_gzipped_json_lines_upload_is_imported(
    acme, billing_admin, django_capture_on_commit_callbacks
):
    line = (
        f'{{"tenant_id": {acme.pk}, "meter": "gpu_hours", "resource_id": "gpu-1", "quantity": 2, '
        '"window_start": "2026-10-01T00:00:00Z", "window_end": "2026-10-01T01:00:00Z", '
        '"idempotency_key": "j1", "dimensions": {"gpu_type": "A100"}}\n'
    )
    upload(
        client_for(billing_admin),
        "usage.jsonl.gz",
        gzip.compress(line.encode()),
        django_capture_on_commit_callbacks,
    )
    job = UsageImport.objects.get()
    assert (job.status, job.format, job.accepted) == ("done", "jsonl", 1)
    assert UsageRecord.objects.get().dimension_value == "A100"


def test_the_rejected_lines_download_lists_line_numbers_and_reasons(
    acme, billing_admin, django_capture_on_commit_callbacks
):
    client = client_for(billing_admin)
    upload(client, "u.csv", csv_bytes(acme, 2, bad=1), django_capture_on_commit_callbacks)
    job = UsageImport.objects.get()
    response = client.get(reverse("usage_imports:rejects", args=[job.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="usage-import-{job.pk}-rejects.csv"'
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["line", "reason", "raw"]
    assert rows[1][:2] == ["4", "The gpu_hours meter needs dimensions.gpu_type."]


def test_an_import_without_rejects_has_no_download(
    acme, billing_admin, django_capture_on_commit_callbacks
):
    client = client_for(billing_admin)
    upload(client, "u.csv", csv_bytes(acme), django_capture_on_commit_callbacks)
    job = UsageImport.objects.get()
    assert client.get(reverse("usage_imports:rejects", args=[job.pk])).status_code == 404


def test_the_same_file_uploaded_twice_is_all_duplicates(
    acme, billing_admin, django_capture_on_commit_callbacks
):
    client = client_for(billing_admin)
    upload(client, "u.csv", csv_bytes(acme), django_capture_on_commit_callbacks)
    upload(client, "u.csv", csv_bytes(acme), django_capture_on_commit_callbacks)
    first, second = UsageImport.objects.order_by("pk")
    assert (first.accepted, first.duplicates) == (3, 0)
    assert (second.accepted, second.duplicates) == (0, 3)
    assert first.file.name != second.file.name  # the second upload does not overwrite the first
    assert UsageRecord.objects.count() == 3


def test_a_running_import_polls_every_two_seconds_with_its_partial(acme, billing_admin, media):
    job = make_job(media, acme, status="running", bytes_total=1000, bytes_read=250, rows_read=10)
    client = client_for(billing_admin)
    page = client.get(f"/usage/imports/{job.pk}/").content.decode()
    assert 'hx-trigger="every 2s"' in page
    assert "<html" in page
    partial = client.get(f"/usage/imports/{job.pk}/", headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert body.lstrip().startswith('<section id="import-progress"')
    assert 'hx-trigger="every 2s"' in body
    assert 'value="25"' in body  # 250 of 1,000 bytes
    assert "<html" not in body


def make_job(media, tenant, **fields):
    stored = Path(media) / "imports" / "u.csv"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(csv_bytes(tenant))
    return UsageImport.objects.create(
        file="imports/u.csv", original_name="u.csv", format="csv", **fields
    )


def test_a_queued_job_is_queued_on_commit_not_before(
    acme, billing_admin, django_capture_on_commit_callbacks
):
    client = client_for(billing_admin)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(LIST, {"file": SimpleUploadedFile("u.csv", csv_bytes(acme))})
    assert UsageImport.objects.get().status == "queued"
    assert len(callbacks) == 1
    callbacks[0]()
    assert UsageImport.objects.get().status == "done"


def test_a_failed_import_can_be_resumed_from_its_page(
    acme, billing_admin, media, django_capture_on_commit_callbacks
):
    job = make_job(
        media, acme, status="failed", error="OperationalError: server closed the connection"
    )
    client = client_for(billing_admin)
    page = client.get(f"/usage/imports/{job.pk}/").content.decode()
    assert "server closed the connection" in page
    assert "Resume the import" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/usage/imports/{job.pk}/resume")
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.accepted, job.error) == ("done", 3, "")


def test_a_done_import_is_not_resumed(acme, billing_admin, media):
    job = make_job(media, acme, status="done")
    response = client_for(billing_admin).post(f"/usage/imports/{job.pk}/resume", follow=True)
    assert "not failed or stalled" in response.content.decode()
    job.refresh_from_db()
    assert job.status == "done"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("invoice.pdf", b"%PDF-1.4 ...", "Upload a .csv or .jsonl file"),
        ("usage.xlsx", b"PK\x03\x04", "Upload a .csv or .jsonl file"),
        (
            "usage.csv",
            b"tenant,meter,qty\n1,vcpu_hours,1\n",
            "lacks the columns resource_id, quantity",
        ),
        ("usage.jsonl", b"tenant_id,meter\n", "Line 1 is not a JSON object"),
        ("usage.csv.gz", b"\x1f\x8b\x08\x00broken", "The file cannot be read"),
        ("usage.csv", HEADER.encode(), "The file holds no records."),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_and_nothing_is_created(
    billing_admin, media, name, content, message, django_capture_on_commit_callbacks
):
    response = upload(client_for(billing_admin), name, content, django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["file"])
    assert UsageImport.objects.count() == 0
    assert not (Path(media) / "imports").exists()


def test_a_file_over_the_size_limit_is_refused(
    acme, billing_admin, settings, django_capture_on_commit_callbacks
):
    settings.USAGE_IMPORT_MAX_BYTES = 100
    response = upload(
        client_for(billing_admin), "u.csv", csv_bytes(acme, 10), django_capture_on_commit_callbacks
    )
    assert "the limit is 100" in " ".join(response.context["form"].errors["file"])
    assert UsageImport.objects.count() == 0


@pytest.mark.parametrize("who", ["finance", "owner", "viewer"])
def test_finance_and_customers_are_refused_every_import_page(request, acme, media, who):
    job = make_job(media, acme, status="done", rejected=1)
    client = client_for(request.getfixturevalue(who))
    assert client.get(LIST).status_code == 403
    assert (
        client.post(LIST, {"file": SimpleUploadedFile("u.csv", csv_bytes(acme))}).status_code == 403
    )
    assert client.get(f"/usage/imports/{job.pk}/").status_code == 403
    assert client.get(f"/usage/imports/{job.pk}/rejects.csv").status_code == 403
    assert client.post(f"/usage/imports/{job.pk}/resume").status_code == 403
    assert UsageImport.objects.count() == 1


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=/usage/imports/")


def test_an_unknown_import_is_404(billing_admin):
    client = client_for(billing_admin)
    assert client.get("/usage/imports/999999/").status_code == 404
    assert client.get("/usage/imports/999999/rejects.csv").status_code == 404
    assert client.post("/usage/imports/999999/resume").status_code == 404
