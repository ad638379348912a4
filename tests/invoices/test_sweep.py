"""The daily sweep: overdue marks, reminders once per step, suspension after the grace period."""

import datetime
from decimal import Decimal

import pytest
import time_machine

from invoices import services
from invoices.models import OutboundEmail
from tenants.models import Tenant

ISSUED = datetime.datetime(2026, 10, 1, 10, tzinfo=datetime.UTC)  # due 16 Oct (15-day terms)


@pytest.fixture
def sent(acme, provider, billing_admin, django_capture_on_commit_callbacks):
    with time_machine.travel(ISSUED), django_capture_on_commit_callbacks(execute=True):
        invoice = services.invoice_create(
            tenant=acme,
            lines=[services.LineData("Hosting", Decimal("1"), Decimal("1000"))],
            actor=billing_admin,
        )
        return services.invoice_send(invoice=invoice, actor=billing_admin)


def reminder_steps(invoice) -> list[str]:
    return sorted(
        invoice.emails.filter(kind=OutboundEmail.Kind.REMINDER).values_list("step", flat=True)
    )


def test_a_reminder_goes_out_three_days_before_the_due_date_once(sent):
    for _ in range(2):
        result = services.overdue_sweep(on=datetime.date(2026, 10, 13))
    assert reminder_steps(sent) == ["before-due"]
    assert result.reminders == 0  # the second run found it sent already
    sent.refresh_from_db()
    assert sent.status == "sent"


def test_past_due_it_is_marked_overdue_by_the_system_and_reminded_once(sent):
    with time_machine.travel(datetime.datetime(2026, 10, 17, 3, tzinfo=datetime.UTC)):
        first = services.overdue_sweep()
        again = services.overdue_sweep()
    sent.refresh_from_db()
    assert sent.status == "overdue"
    assert (first.marked_overdue, again.marked_overdue) == (1, 0)
    assert reminder_steps(sent) == ["overdue"]
    event = sent.events.get(type="overdue")
    assert event.actor is None
    assert event.to_status == "overdue"


def test_after_the_grace_period_the_tenant_is_suspended_with_a_final_reminder(sent, acme):
    with time_machine.travel(datetime.datetime(2026, 10, 17, 3, tzinfo=datetime.UTC)):
        services.overdue_sweep()
    with time_machine.travel(datetime.datetime(2026, 10, 31, 3, tzinfo=datetime.UTC)):
        assert services.overdue_sweep().suspended == []  # 15 days late: still within grace
    with time_machine.travel(datetime.datetime(2026, 11, 1, 3, tzinfo=datetime.UTC)):
        result = services.overdue_sweep()
        services.overdue_sweep()
    acme.refresh_from_db()
    assert result.suspended == ["Acme Cloud"]
    assert acme.status == Tenant.Status.SUSPENDED
    assert sent.number in acme.status_reason
    assert reminder_steps(sent) == ["final", "overdue"]


def test_a_paid_invoice_is_left_alone(sent, billing_admin):
    from payments.services import payment_record_manual

    payment_record_manual(
        invoice=sent,
        amount=sent.total,
        method="neft",
        reference="UTR1",
        received_on=datetime.date(2026, 10, 10),
        actor=billing_admin,
    )
    result = services.overdue_sweep(on=datetime.date(2026, 12, 1))
    sent.refresh_from_db()
    assert sent.status == "paid"
    assert (result.marked_overdue, result.reminders, result.suspended) == (0, 0, [])
