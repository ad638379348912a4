import datetime
import logging

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from usage import importer
from usage.models import UsageImport

log = logging.getLogger(__name__)


# acks_late: a task lost with its worker is delivered again. The claim (a compare-and-set) lets
# one delivery work; a later one takes over only an import that has stalled, and carries on
# after its last committed chunk.
@shared_task(acks_late=True, soft_time_limit=4 * 3600, time_limit=4 * 3600 + 300)
def import_usage_file(import_id: int) -> str:
    """Import one uploaded file (a UsageImport row) unless another delivery is at it."""
    return importer.usage_import_run(import_id=import_id)


@shared_task(soft_time_limit=60, time_limit=90)
def resume_stalled_imports() -> int:
    """Beat, every 10 minutes: queue again each import that shows no sign of life.

    A worker killed mid-import leaves its row running; the broker gives the task back only after
    the visibility timeout, and a task lost before a worker took it never comes back. The claim
    decides which delivery works, so queuing one that is merely slow costs one no-op task.
    """
    stale = timezone.now() - importer.STALE_AFTER
    waiting = [UsageImport.Status.QUEUED, UsageImport.Status.RUNNING]
    ids = list(
        UsageImport.objects.filter(status__in=waiting)
        .filter(Q(progress_at__lt=stale) | Q(progress_at=None, created_at__lt=stale))
        .values_list("pk", flat=True)
    )
    for import_id in ids:
        log.warning("usage import %s shows no progress since %s: queued again", import_id, stale)
        import_usage_file.delay(import_id)
    return len(ids)


@shared_task(soft_time_limit=10 * 60, time_limit=11 * 60)
def purge_import_files() -> dict[str, int]:
    """Beat, daily: an imported file is not needed once its records are stored; a failed upload
    and a rejected-lines file are kept USAGE_IMPORT_KEEP_DAYS for people to act on."""
    expired = timezone.now() - datetime.timedelta(days=settings.USAGE_IMPORT_KEEP_DAYS)
    removed = {"uploads": 0, "rejects": 0}
    uploads = UsageImport.objects.filter(
        Q(status=UsageImport.Status.DONE)
        | Q(status=UsageImport.Status.FAILED, created_at__lt=expired)
    ).exclude(file="")
    for usage_import in uploads.iterator():
        usage_import.file.delete(save=False)
        if usage_import.status == UsageImport.Status.FAILED:
            usage_import.error = (
                f"{usage_import.error}\nThe uploaded file was removed after "
                f"{settings.USAGE_IMPORT_KEEP_DAYS} days; upload it again to import it."
            ).strip()
        UsageImport.objects.filter(pk=usage_import.pk).update(file="", error=usage_import.error)
        removed["uploads"] += 1
    old_rejects = UsageImport.objects.filter(
        status__in=[UsageImport.Status.DONE, UsageImport.Status.FAILED],
        created_at__lt=expired,
    ).exclude(rejects_file="")
    for usage_import in old_rejects.iterator():
        usage_import.rejects_file.delete(save=False)
        UsageImport.objects.filter(pk=usage_import.pk).update(rejects_file="", rejects_bytes=0)
        removed["rejects"] += 1
    if any(removed.values()):
        log.info("usage import files removed: %s", removed)
    return removed
