"""The email outbox: one row per (invoice, kind, step), delivered once however often the task runs.

Tests run Celery eagerly, and a service queues delivery with ``transaction.on_commit``: the
messages go out only inside ``django_capture_on_commit_callbacks(execute=True)``.
"""

import datetime
import email
import email.policy
import itertools
import smtplib
import socket

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.utils import timezone

from invoices import services, tasks
from invoices.models import Invoice, OutboundEmail
from tests.invoices.builders import reload

S = Invoice.Status
Kind = OutboundEmail.Kind


def deliver(email_id: int) -> str:
    return tasks.deliver_email.delay(email_id).get()


def test_sending_an_invoice_queues_one_email_and_delivers_it(
    make_invoice, billing_admin, acme, django_capture_on_commit_callbacks
):
    invoice = make_invoice(S.PENDING)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.invoice_send(invoice=invoice, actor=billing_admin)
    invoice = reload(invoice)
    assert len(callbacks) == 1
    queued = OutboundEmail.objects.get(invoice=invoice)
    assert (queued.kind, queued.step, queued.to) == (Kind.INVOICE_SENT, "", [acme.billing_email])
    assert (queued.status, queued.attempts, queued.last_error) == ("sent", 1, "")
    assert queued.sent_at is not None
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [acme.billing_email]
    assert message.subject == queued.subject
    assert invoice.number in message.subject
    assert "₹1,180.00" in message.subject
    assert [mime for _, mime in message.alternatives] == ["text/html"]


def test_delivering_the_same_email_twice_sends_it_once(make_invoice, billing_admin):
    invoice = make_invoice(S.PENDING)
    services.invoice_send(invoice=invoice, actor=billing_admin)  # on_commit never runs here
    queued = OutboundEmail.objects.get(invoice=invoice)
    assert queued.status == "queued"
    assert deliver(queued.pk) == "sent"
    assert deliver(queued.pk) != "sent"
    assert len(mail.outbox) == 1
    queued.refresh_from_db()
    assert (queued.status, queued.attempts) == ("sent", 1)


def test_an_email_being_sent_by_another_worker_is_not_sent_again(make_invoice, billing_admin):
    invoice = make_invoice(S.PENDING)
    services.invoice_send(invoice=invoice, actor=billing_admin)
    queued = OutboundEmail.objects.get(invoice=invoice)
    assert services.email_claim(queued.pk) is not None  # the other worker
    assert services.email_claim(queued.pk) is None
    assert deliver(queued.pk) != "sent"
    assert mail.outbox == []


def test_a_scheduled_reminder_step_is_queued_once(make_invoice, django_capture_on_commit_callbacks):
    invoice = make_invoice(S.OVERDUE)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.invoice_remind(invoice=invoice, actor=None, step="overdue")
        second = services.invoice_remind(invoice=invoice, actor=None, step="overdue")
    assert first is not None
    assert second is None
    reminders = OutboundEmail.objects.filter(invoice=invoice, kind=Kind.REMINDER)
    assert [(r.step, r.status) for r in reminders] == [("overdue", "sent")]
    assert invoice.events.filter(type="reminder").count() == 1
    assert [m.subject.split(":")[0] for m in mail.outbox] == ["Overdue"]


def test_manual_reminders_are_each_sent(make_invoice, billing_admin):
    invoice = make_invoice(S.SENT)
    services.invoice_remind(invoice=invoice, actor=billing_admin, step="before-due")
    services.invoice_remind(invoice=invoice, actor=billing_admin)
    services.invoice_remind(invoice=invoice, actor=billing_admin)
    steps = OutboundEmail.objects.filter(invoice=invoice, kind=Kind.REMINDER)
    assert sorted(steps.values_list("step", flat=True)) == ["before-due", "manual-2", "manual-3"]


@pytest.fixture
def smtp_refuses(monkeypatch):
    calls: list[datetime.datetime] = []

    def refuse(self, messages):
        calls.append(timezone.now())
        raise smtplib.SMTPException("451 try again later")

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    return calls


def flush_until_settled(row: OutboundEmail, *, step: datetime.timedelta, limit: int) -> None:
    """Run the beat's outbox flush every ``step`` until the row is sent or failed."""
    clock = timezone.now()
    for _ in range(limit):
        row.refresh_from_db()
        if row.status in ("sent", "failed"):
            return
        clock += step
        with time_machine.travel(clock, tick=False):
            tasks.flush_outbox.delay().get()


def test_an_smtp_failure_is_retried_and_the_email_ends_failed_after_max_attempts(
    make_invoice, billing_admin, smtp_refuses, django_capture_on_commit_callbacks
):
    invoice = make_invoice(S.PENDING)
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_send(invoice=invoice, actor=billing_admin)
    row = OutboundEmail.objects.get(invoice=invoice)
    assert (row.status, row.attempts) == ("queued", 1)  # waiting for its retry
    assert row.last_error == "SMTPException: 451 try again later"

    flush_until_settled(row, step=datetime.timedelta(hours=2), limit=4 * tasks.MAX_ATTEMPTS)
    assert len(smtp_refuses) == tasks.MAX_ATTEMPTS == 8
    assert (row.status, row.attempts) == ("failed", tasks.MAX_ATTEMPTS)
    assert row.last_error == "SMTPException: 451 try again later"
    assert row.sent_at is None
    assert mail.outbox == []
    assert reload(invoice).status == S.SENT  # the invoice was sent; only its email failed

    # However often the flush or the task runs again, a failed row gets no ninth attempt.
    with time_machine.travel(timezone.now() + datetime.timedelta(days=30)):
        assert tasks.flush_outbox.delay().get() == 0
        assert deliver(row.pk) != "sent"
    assert len(smtp_refuses) == tasks.MAX_ATTEMPTS


def test_retries_back_off_and_never_come_sooner_than_thirty_seconds(
    make_invoice, billing_admin, smtp_refuses, django_capture_on_commit_callbacks
):
    invoice = make_invoice(S.PENDING)
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_send(invoice=invoice, actor=billing_admin)
    row = OutboundEmail.objects.get(invoice=invoice)
    # A flush every 15 seconds for ten minutes: a retry waits for its backoff, not for a flush.
    flush_until_settled(row, step=datetime.timedelta(seconds=15), limit=40)
    gaps = [later - earlier for earlier, later in itertools.pairwise(smtp_refuses)]
    assert 3 <= len(gaps) < tasks.MAX_ATTEMPTS - 1  # 40 flushes, yet only a few attempts
    assert gaps[0] >= datetime.timedelta(seconds=30)
    assert all(later > earlier for earlier, later in itertools.pairwise(gaps))
    assert row.status == "queued"


def test_a_transient_smtp_failure_is_retried_until_it_goes_through(
    make_invoice, billing_admin, monkeypatch, django_capture_on_commit_callbacks
):
    real_send = EmailBackend.send_messages
    failures = iter([smtplib.SMTPServerDisconnected("gone"), ConnectionRefusedError("refused")])

    def flaky(self, messages):
        error = next(failures, None)
        if error is not None:
            raise error
        return real_send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", flaky)
    invoice = make_invoice(S.PENDING)
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_send(invoice=invoice, actor=billing_admin)
    row = OutboundEmail.objects.get(invoice=invoice)
    assert row.last_error == "SMTPServerDisconnected: gone"
    flush_until_settled(row, step=datetime.timedelta(minutes=10), limit=10)
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, "")
    assert len(mail.outbox) == 1


def test_flush_sends_a_queued_email_older_than_a_minute_and_leaves_a_fresh_one(
    make_invoice, billing_admin
):
    old, fresh = make_invoice(S.PENDING), make_invoice(S.PENDING)
    with time_machine.travel(timezone.now() - datetime.timedelta(minutes=2)):
        services.invoice_send(invoice=old, actor=billing_admin)  # the broker was down
    services.invoice_send(invoice=fresh, actor=billing_admin)
    assert tasks.flush_outbox.delay().get() == 1
    assert OutboundEmail.objects.get(invoice=old).status == "sent"
    assert OutboundEmail.objects.get(invoice=fresh).status == "queued"
    assert [m.to for m in mail.outbox] == [[old.tenant.billing_email]]


def test_flush_frees_a_stale_sending_claim_and_sends_it(make_invoice, billing_admin):
    stale, recent = make_invoice(S.PENDING), make_invoice(S.PENDING)
    with time_machine.travel(timezone.now() - datetime.timedelta(minutes=20)):
        services.invoice_send(invoice=stale, actor=billing_admin)
        services.email_claim(OutboundEmail.objects.get(invoice=stale).pk)  # a worker died here
    with time_machine.travel(timezone.now() - datetime.timedelta(minutes=5)):
        services.invoice_send(invoice=recent, actor=billing_admin)
        services.email_claim(OutboundEmail.objects.get(invoice=recent).pk)  # still at work

    assert tasks.flush_outbox.delay().get() == 1
    freed = OutboundEmail.objects.get(invoice=stale)
    assert (freed.status, freed.attempts) == ("sent", 2)
    assert OutboundEmail.objects.get(invoice=recent).status == "sending"
    assert len(mail.outbox) == 1


# --- Over a real SMTP connection --------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's hook name
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, recorder
    finally:
        controller.stop()


def test_an_invoice_email_goes_over_smtp_with_its_html_part(
    make_invoice, billing_admin, acme, settings, smtp_server, django_capture_on_commit_callbacks
):
    controller, recorder = smtp_server
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": "127.0.0.1",
                "port": controller.port,
                "use_tls": False,
                "timeout": 10,
            },
        }
    }
    invoice = make_invoice(S.PENDING)
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_send(invoice=invoice, actor=billing_admin)
    invoice = reload(invoice)

    assert OutboundEmail.objects.get(invoice=invoice).status == "sent"
    assert mail.outbox == []  # not the test backend: the message went over the socket
    assert len(recorder.envelopes) == 1
    envelope = recorder.envelopes[0]
    assert envelope.rcpt_tos == [acme.billing_email]
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert message["To"] == acme.billing_email
    assert invoice.number in message["Subject"]
    parts = {part.get_content_type(): part for part in message.walk()}
    assert {"text/plain", "text/html"} <= set(parts)
    html = parts["text/html"].get_content()
    assert invoice.number in html
    assert f"/invoices/{invoice.pk}/" in html
