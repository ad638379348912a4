"""Export jobs: queue one, run it once (whichever delivery claims it), email the requester, purge.

A job rebuilds its rows at run time from what it stored (the list's URL parameters, the
requester, the tenant scope) through the same functions the inline export calls, and checks
again that the requester may still export them.
"""

import datetime
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.db import transaction
from django.db.models import F, Q
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from billing_portal.lib.email import send_templated_email
from exports.models import ExportJob
from tenants.models import Membership
from tenants.roles import is_staff_member

log = logging.getLogger(__name__)

EXPORT_PERM = "invoices.export_invoice"
K = ExportJob.Kind
# What staff need beside EXPORT_PERM to read what a kind holds: the permission its page asks for.
READ_PERMS: dict[str, str] = {
    K.PAYMENTS: "payments.view_payment",
    K.REFUNDS: "payments.view_refund",
    K.USAGE_RECORDS: "usage.view_usagerecord",
    K.USAGE_BREAKDOWN: "usage.view_usagerecord",
}
# A running job with no progress for this long is presumed dead; a redelivery takes it over.
STALE_AFTER = datetime.timedelta(minutes=10)
PROGRESS_EVERY_SECONDS = 1.0

J = ExportJob.Status


class ExportRefused(Exception):
    """The requester may no longer export this, or it cannot be exported as asked."""


def may_export(user: User, tenant_id: int | None, *, kind: str) -> bool:
    """Staff with the export permission and the one to read ``kind`` (every tenant); a member of
    ``tenant_id`` (their own)."""
    if not user.is_active:
        return False
    if is_staff_member(user):
        read = READ_PERMS.get(kind)
        return user.has_perm(EXPORT_PERM) and (read is None or user.has_perm(read))
    return (
        tenant_id is not None and Membership.objects.filter(user=user, tenant_id=tenant_id).exists()
    )


def params_of(query: QueryDict) -> dict[str, list[str]]:
    return {key: values for key, values in query.lists()}


def query_of(params: dict[str, list[str]]) -> QueryDict:
    query = QueryDict(mutable=True)
    for key, values in params.items():
        query.setlist(key, [str(v) for v in values])
    return query


def _dispatch(job_id: int) -> None:
    from exports.tasks import run_export

    try:
        run_export.delay(job_id)
    except Exception:
        # The row stays queued; the daily purge fails it if no worker ever takes it.
        log.warning("export %s stays queued: the broker did not take the task", job_id)


@transaction.atomic
def export_job_create(
    *,
    requester: User,
    tenant_id: int | None,
    kind: str,
    fmt: str,
    params: dict[str, Any],
    row_count: int,
) -> ExportJob:
    """Record the job and queue it once the transaction commits."""
    job = ExportJob.objects.create(
        requester=requester,
        tenant_id=tenant_id,
        kind=kind,
        format=fmt,
        params=params,
        row_count=row_count,
    )
    transaction.on_commit(lambda: _dispatch(job.pk))
    return job


def _claim(job_id: int) -> ExportJob | None:
    """Queued -> running once (compare-and-set); a running job silent for STALE_AFTER is taken
    over by the redelivered task (its worker died)."""
    now = timezone.now()
    claimable = Q(status=J.QUEUED) | Q(status=J.RUNNING, progress_at__lt=now - STALE_AFTER)
    claimed = ExportJob.objects.filter(claimable, pk=job_id).update(
        status=J.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        progress_at=now,
        progress=0,
        error="",
    )
    return ExportJob.objects.select_related("requester").get(pk=job_id) if claimed else None


Writer = Callable[[ExportJob, Path, Callable[[int], None]], tuple[str, int]]


def _writer(kind: str) -> Writer:
    # The writers live with what they export; imported here, when a job runs.
    from invoices import exports as invoice_exports
    from payments import exports as payment_exports
    from usage import exports as usage_exports

    writers: dict[str, Writer] = {
        K.INVOICES: invoice_exports.write_job,
        K.INVOICE_LINES: invoice_exports.write_job,
        K.INVOICE_PDFS: invoice_exports.write_pdfs_job,
        K.PAYMENTS: payment_exports.write_job,
        K.REFUNDS: payment_exports.write_job,
        K.USAGE_RECORDS: usage_exports.write_job,
        K.USAGE_BREAKDOWN: usage_exports.write_job,
    }
    return writers[kind]


def export_job_run(*, job_id: int) -> str:
    """Write the job's file, or record why not. Any other state: another delivery has it."""
    job = _claim(job_id)
    if job is None:
        return "not queued"
    current = ExportJob.objects.filter(pk=job_id, attempts=job.attempts, status=J.RUNNING)
    last_saved = 0.0

    def progress(done: int) -> None:
        nonlocal last_saved
        now = timezone.now()
        if now.timestamp() - last_saved >= PROGRESS_EVERY_SECONDS:
            last_saved = now.timestamp()
            current.update(progress=done, progress_at=now)

    try:
        if not may_export(job.requester, job.tenant_id, kind=job.kind):
            raise ExportRefused("You may no longer export these rows.")
        with tempfile.TemporaryDirectory(prefix="export-") as folder:
            path = Path(folder) / "export"
            filename, rows = _writer(job.kind)(job, path, progress)
            with path.open("rb") as handle:
                job.file.save(f"{job.pk}/{filename}", File(handle), save=False)
    except Exception as error:
        message = (
            f"The export took longer than {settings.EXPORT_TIME_LIMIT // 60} minutes: "
            "narrow the filters and try again."
            if isinstance(error, SoftTimeLimitExceeded)
            else str(error)
            if isinstance(error, ExportRefused)
            else "The export failed; the billing team has been told."
        )
        if not isinstance(error, ExportRefused | SoftTimeLimitExceeded):
            log.exception("export %s failed", job_id)
        current.update(status=J.FAILED, error=message, finished_at=timezone.now())
        return "failed"
    if not current.update(
        status=J.DONE,
        file=job.file.name,
        filename=filename,
        progress=rows,
        row_count=rows,
        progress_at=timezone.now(),
        finished_at=timezone.now(),
    ):
        job.file.delete(save=False)  # superseded by a later attempt, which writes its own
        return "superseded"
    _email_once(job_id)
    return "done"


def _email_once(job_id: int) -> None:
    """The "your export is ready" email, once per job whatever the deliveries."""
    if not ExportJob.objects.filter(pk=job_id, emailed_at=None).update(emailed_at=timezone.now()):
        return
    job = ExportJob.objects.select_related("requester").get(pk=job_id)
    if not job.requester.email:
        return
    path = reverse("exports:detail", kwargs={"job_id": job.pk})
    send_templated_email(
        "emails/export_ready",
        to=[job.requester.email],
        context={
            "job": job,
            "user": job.requester,
            "url": f"{settings.SITE_URL}{path}",
            "keep_days": settings.EXPORT_KEEP_DAYS,
        },
    )


def export_files_purge(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Remove files older than EXPORT_KEEP_DAYS (the rows stay, expired); fail jobs that no
    worker took or finished within a day."""
    now = now or timezone.now()
    expired = now - datetime.timedelta(days=settings.EXPORT_KEEP_DAYS)
    removed = 0
    for job in ExportJob.objects.filter(status=J.DONE, finished_at__lt=expired).iterator():
        if job.file:
            job.file.delete(save=False)
        ExportJob.objects.filter(pk=job.pk, status=J.DONE).update(status=J.EXPIRED, file="")
        removed += 1
    abandoned = ExportJob.objects.filter(
        status__in=[J.QUEUED, J.RUNNING], created_at__lt=now - datetime.timedelta(days=1)
    ).update(
        status=J.FAILED,
        error="No worker finished this export within a day; export again.",
        finished_at=now,
    )
    if removed or abandoned:
        log.info("exports: %s files removed, %s abandoned jobs failed", removed, abandoned)
    return {"removed": removed, "abandoned": abandoned}
