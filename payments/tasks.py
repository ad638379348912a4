import logging

from celery import shared_task

from payments import services

log = logging.getLogger(__name__)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def handle_webhook_event(event_pk: int) -> str:
    """Act on one stored webhook event; redelivered, it finds the event processed."""
    return services.webhook_handle(event_pk=event_pk)


@shared_task(soft_time_limit=10 * 60, time_limit=11 * 60)
def reconcile_payments() -> dict[str, int]:
    """Beat, every 15 minutes: ask the gateway about orders and refunds still open."""
    counts = services.reconcile()
    if any(counts.values()):
        log.info("payment reconciliation: %s", counts)
    return counts
