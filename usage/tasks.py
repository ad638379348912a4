from celery import shared_task

from usage import importer


# acks_late: a task lost with its worker is delivered again. The claim (a compare-and-set) lets
# one delivery work; a later one takes over only an import that has stalled, and carries on
# after its last committed chunk.
@shared_task(acks_late=True, soft_time_limit=4 * 3600, time_limit=4 * 3600 + 300)
def import_usage_file(import_id: int) -> str:
    """Import one uploaded file (a UsageImport row) unless another delivery is at it."""
    return importer.usage_import_run(import_id=import_id)
