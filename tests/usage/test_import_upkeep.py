"""Beat's upkeep of uploaded imports: stalled jobs queued again, files removed when done with."""

import datetime
from pathlib import Path

import time_machine
from django.utils import timezone

from tests.usage.test_import import csv_text, make_import, media, record  # noqa: F401
from usage import importer, tasks
from usage.models import UsageImport, UsageRecord


def test_a_job_left_running_by_a_dead_worker_is_finished_by_the_upkeep(acme, media):  # noqa: F811
    job = make_import(media, "u.csv", csv_text([record(acme, "a"), record(acme, "b")]))
    # A worker claimed it and died before its first chunk.
    UsageImport.objects.filter(pk=job.pk).update(
        status=UsageImport.Status.RUNNING, attempts=1, progress_at=timezone.now()
    )
    assert tasks.resume_stalled_imports() == 0  # alive as far as anyone can tell
    with time_machine.travel(timezone.now() + importer.STALE_AFTER + datetime.timedelta(seconds=1)):
        assert tasks.resume_stalled_imports() == 1
    job.refresh_from_db()
    assert (job.status, job.accepted, job.attempts) == ("done", 2, 2)
    assert UsageRecord.objects.filter(tenant=acme).count() == 2


def test_a_queued_job_whose_task_was_lost_is_run(acme, media):  # noqa: F811
    job = make_import(media, "u.csv", csv_text([record(acme, "a")]))
    with time_machine.travel(timezone.now() + importer.STALE_AFTER + datetime.timedelta(minutes=1)):
        assert tasks.resume_stalled_imports() == 1
    job.refresh_from_db()
    assert job.status == "done"


def test_failed_and_finished_jobs_are_not_touched_by_the_upkeep(acme, media):  # noqa: F811
    done = make_import(media, "d.csv", csv_text([record(acme, "a")]))
    importer.usage_import_run(import_id=done.pk)
    failed = make_import(media, "f.csv", csv_text([record(acme, "b")]))
    UsageImport.objects.filter(pk=failed.pk).update(status=UsageImport.Status.FAILED)
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=2)):
        assert tasks.resume_stalled_imports() == 0
    failed.refresh_from_db()
    assert failed.status == "failed"


def test_an_imported_file_is_removed_and_rejects_kept_for_the_keep_period(
    acme,
    media,  # noqa: F811
    settings,
):
    settings.USAGE_IMPORT_KEEP_DAYS = 30
    text = csv_text([record(acme, "a"), record(acme, "b", quantity="-1")])
    job = make_import(media, "u.csv", text)
    importer.usage_import_run(import_id=job.pk)
    job.refresh_from_db()
    upload, rejects = Path(media) / job.file.name, Path(media) / job.rejects_file.name
    assert upload.exists()
    assert rejects.exists()
    assert job.rejected == 1

    assert tasks.purge_import_files() == {"uploads": 1, "rejects": 0}
    job.refresh_from_db()
    assert not upload.exists()
    assert job.file.name == ""
    assert rejects.exists(), "the rejected lines stay for people to fix them"

    with time_machine.travel(timezone.now() + datetime.timedelta(days=31)):
        assert tasks.purge_import_files() == {"uploads": 0, "rejects": 1}
    job.refresh_from_db()
    assert not rejects.exists()
    assert job.rejects_file.name == ""
    assert job.accepted == 1, "the counts stay: they describe what is stored"


def test_a_failed_upload_is_kept_for_the_keep_period_then_removed_with_a_reason(
    acme,
    media,  # noqa: F811
    settings,
):
    settings.USAGE_IMPORT_KEEP_DAYS = 30
    job = make_import(media, "u.csv", csv_text([record(acme, "a")]))
    UsageImport.objects.filter(pk=job.pk).update(status=UsageImport.Status.FAILED, error="boom")
    upload = Path(media) / "imports" / "u.csv"
    assert tasks.purge_import_files() == {"uploads": 0, "rejects": 0}
    assert upload.exists()
    with time_machine.travel(timezone.now() + datetime.timedelta(days=31)):
        tasks.purge_import_files()
    job.refresh_from_db()
    assert not upload.exists()
    assert "removed after 30 days" in job.error
    assert job.error.startswith("boom")
