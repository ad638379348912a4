import contextlib
import datetime
import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.utils import timezone

from invoices import services
from invoices.models import OutboundEmail

log = logging.getLogger(__name__)

MAX_ATTEMPTS = services.EMAIL_MAX_ATTEMPTS


def dispatch_email(email_id: int) -> bool:
    """Queue delivery; if the broker is down the row stays queued and the flush sends it later.

    Runs on commit, after the change that queued the email (a payment) is saved: it must never
    raise. A row whose task was lost is made due at once, so the first flush after the broker is
    back sends it without waiting out the minute a fresh row is given."""
    try:
        deliver_email.delay(email_id)
    except Exception:
        log.warning("email %s stays queued: the broker did not take the task", email_id)
        with contextlib.suppress(Exception):
            OutboundEmail.objects.filter(
                pk=email_id, status=OutboundEmail.Status.QUEUED, retry_at__isnull=True
            ).update(retry_at=timezone.now())
        return False
    return True


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def deliver_email(email_id: int) -> str:
    """One attempt. A failure leaves the row queued with a retry time, which flush_outbox honours
    (so the backoff survives worker restarts and eager runs alike), until the row's attempts run
    out and it is marked failed."""
    email = services.email_claim(email_id)
    if email is None:
        return "already delivered, being delivered, or waiting for its retry time"
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=email.to,
    )
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    if email.kind == OutboundEmail.Kind.INVOICE_SENT:
        from invoices import pdf

        try:
            # The copy as issued, byte for byte: what the customer keeps for their tax records.
            message.attach(*pdf.issued_pdf_attachment(email.invoice))
        except pdf.PdfRenderError as error:
            retry = services.email_mark(email, sent=False, error=f"PDF: {error}")
            return "will retry" if retry else "failed"
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as error:
        retry = services.email_mark(email, sent=False, error=f"{type(error).__name__}: {error}")
        if not retry:
            log.error("email %s failed after %s attempts: %s", email_id, email.attempts, error)
            return "failed"
        log.warning(
            "email %s attempt %s failed, retry at %s", email_id, email.attempts, email.retry_at
        )
        return "will retry"
    services.email_mark(email, sent=True)
    return "sent"


def dispatch_issued_pdf(invoice_id: int) -> None:
    """Queue the issued copy's rendering; if the broker is down, the first download or the
    "invoice sent" email renders and keeps it instead, so nothing is lost."""
    try:
        render_issued_pdf.delay(invoice_id)
    except Exception:
        log.warning("issued PDF of invoice %s not queued: rendered on first use", invoice_id)


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def render_issued_pdf(invoice_id: int) -> int:
    """Render and keep the PDF of a just-issued invoice; run twice, the second finds it kept."""
    from invoices import pdf
    from invoices.models import Invoice

    invoice = Invoice.objects.select_related("tenant").get(pk=invoice_id)
    return len(pdf.issued_pdf(invoice=invoice))


@shared_task
def flush_outbox() -> int:
    """Send what is due: rows whose dispatch was lost (a broker outage at commit) and rows whose
    retry time has come; free claims a dead worker held."""
    now = timezone.now()
    OutboundEmail.objects.filter(
        status=OutboundEmail.Status.SENDING, claimed_at__lt=now - datetime.timedelta(minutes=15)
    ).update(status=OutboundEmail.Status.QUEUED)
    due = OutboundEmail.objects.filter(status=OutboundEmail.Status.QUEUED).filter(
        Q(retry_at__isnull=True, queued_at__lt=now - datetime.timedelta(minutes=1))
        | Q(retry_at__lte=now)
    )
    count = 0
    for email_id in due.values_list("pk", flat=True)[:500]:
        if not dispatch_email(email_id):
            break  # the broker is down: the next flush tries again
        count += 1
    return count


@shared_task(soft_time_limit=30 * 60, time_limit=31 * 60)
def daily_sweep() -> dict[str, object]:
    """Beat, every morning (Asia/Kolkata): overdue marks, reminders, suspensions."""
    result = services.overdue_sweep()
    log.info("daily sweep: %s", result)
    return {
        "marked_overdue": result.marked_overdue,
        "reminders": result.reminders,
        "suspended": result.suspended,
    }


@shared_task(acks_late=True, time_limit=30 * 60, soft_time_limit=25 * 60)
def generate_invoices_chunk(run_id: int, tenant_ids: list[int]) -> dict[str, object]:
    """Drafts for one chunk of tenants. Redelivered or run twice, it creates nothing twice."""
    from invoices import generation

    result = generation.generate_chunk_by_id(run_id, tenant_ids)
    return {"created": result.created, "skipped": result.skipped, "failed": result.failed}


@shared_task
def generate_monthly_invoices(period: str | None = None) -> int:
    """Beat, on the 1st (Asia/Kolkata): the previous month's aggregate, then drafts in chunks of
    tenants fanned out to the workers."""
    from invoices import generation
    from usage.models import UsageRun

    month = (
        generation.Period.month(period)
        if period
        else generation.Period.previous_month(timezone.localdate())
    )
    label = f"{month.start:%Y-%m}"
    sent: list[int] = []

    def send(run: UsageRun, tenant_ids: list[int]) -> None:
        generate_invoices_chunk.delay(run.pk, tenant_ids)
        sent.append(len(tenant_ids))

    # One watermark for the whole run: every chunk bills exactly the records stored before it.
    # Each chunk is sent as soon as its tenants' groups are stored.
    generation.run_start(month, chunk_size=settings.INVOICE_RUN_CHUNK, chunk_ready=send)
    log.info("monthly run %s: %s tenants in %s chunks", label, sum(sent), len(sent))
    return sum(sent)
