"""The sandbox's background work: webhook deliveries with retries, and refund settlement.

Eager in the demo and the tests (each runs at commit, in the request that caused it); with Redis a
worker runs them. Each can run twice without harm: a delivery is meant to repeat (receivers
dedupe on the event id) and a settled refund is left as it is.
"""

import logging

from celery import shared_task

from payments.sandbox import services

log = logging.getLogger(__name__)

# Razorpay gives up on a webhook after a day of retries; the sandbox after this many attempts.
MAX_ATTEMPTS = 5


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def deliver_webhooks(event_ids: list[str]) -> None:
    """A batch, one after another in the order given; a failed one is retried on its own."""
    for event_id in event_ids:
        _attempt(event_id, attempt=1, retry=True)


@shared_task(acks_late=True, soft_time_limit=30, time_limit=60)
def deliver_webhook(event_id: str, attempt: int = 1, retry: bool = True) -> str:
    return _attempt(event_id, attempt=attempt, retry=retry)


def _attempt(event_id: str, *, attempt: int, retry: bool) -> str:
    if services.webhook_deliver(event_id=event_id):
        return "delivered"
    if not retry or attempt >= MAX_ATTEMPTS:
        log.error("sandbox webhook %s given up after attempt %s", event_id, attempt)
        return "failed"
    deliver_webhook.apply_async(
        (event_id,),
        {"attempt": attempt + 1},
        countdown=services.webhook_backoff(attempt).total_seconds(),
    )
    return "will retry"


@shared_task(acks_late=True)
def settle_refund_task(refund_id: str, outcome: str) -> str:
    return services.settle_refund(refund_id, outcome).status
