import datetime
import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from invoices import services
from invoices.models import OutboundEmail

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


def dispatch_email(email_id: int) -> None:
    """Queue delivery; if the broker is down the row stays queued and the flush sends it later."""
    try:
        deliver_email.delay(email_id)
    except Exception:
        log.warning("email %s stays queued: the broker did not take the task", email_id)


@shared_task(bind=True, max_retries=MAX_ATTEMPTS - 1, acks_late=True)
def deliver_email(self, email_id: int) -> str:
    email = services.email_claim(email_id)
    if email is None:
        return "already delivered or being delivered"
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=email.to,
    )
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as error:
        final = self.request.retries >= self.max_retries
        services.email_mark(
            email, sent=False, error=f"{type(error).__name__}: {error}", final=final
        )
        if final:
            log.error("email %s failed after %s attempts: %s", email_id, email.attempts, error)
            return "failed"
        raise self.retry(exc=error, countdown=min(3600, 30 * 2**self.request.retries)) from error
    services.email_mark(email, sent=True)
    return "sent"


@shared_task
def flush_outbox() -> int:
    """Send what is still queued (a broker outage at commit) and free claims a dead worker held."""
    now = timezone.now()
    OutboundEmail.objects.filter(
        status=OutboundEmail.Status.SENDING, claimed_at__lt=now - datetime.timedelta(minutes=15)
    ).update(status=OutboundEmail.Status.QUEUED)
    stale = OutboundEmail.objects.filter(
        status=OutboundEmail.Status.QUEUED, queued_at__lt=now - datetime.timedelta(minutes=1)
    ).values_list("pk", flat=True)
    count = 0
    for email_id in stale[:500]:
        dispatch_email(email_id)
        count += 1
    return count


@shared_task
def daily_sweep() -> dict[str, object]:
    """Beat, every morning (Asia/Kolkata): overdue marks, reminders, suspensions."""
    result = services.overdue_sweep()
    log.info("daily sweep: %s", result)
    return {
        "marked_overdue": result.marked_overdue,
        "reminders": result.reminders,
        "suspended": result.suspended,
    }
