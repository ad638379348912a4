from celery import shared_task
from django.conf import settings

from exports import services


# acks_late: a task lost with its worker is delivered again; the claim lets one delivery work.
@shared_task(
    acks_late=True,
    soft_time_limit=settings.EXPORT_TIME_LIMIT,
    time_limit=settings.EXPORT_TIME_LIMIT + 60,
)
def run_export(job_id: int) -> str:
    return services.export_job_run(job_id=job_id)


@shared_task(soft_time_limit=10 * 60, time_limit=11 * 60)
def purge_export_files() -> dict[str, int]:
    """Beat, daily: export files older than EXPORT_KEEP_DAYS are removed."""
    return services.export_files_purge()
