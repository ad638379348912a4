"""The daily sweep: overdue marks, the reminder schedule, suspension and its lifting, drafts."""

import datetime
from decimal import Decimal

import pytest
import time_machine

from invoices import services
from invoices.generation import IST
from invoices.models import OutboundEmail
from payments.services import payment_record_manual
from tenants.services import tenant_set_status

ISSUED = datetime.datetime(2026, 10, 1, 10, tzinfo=datetime.UTC)  # due 16 Oct (15-day terms)
DUE = datetime.date(2026, 10, 16)


@pytest.fixture
def sent(acme, provider, billing_admin):
    with time_machine.travel(ISSUED):
        invoice = services.invoice_create(
            tenant=acme,
            lines=[services.LineData("Hosting", Decimal("1"), Decimal("1000"))],
            actor=billing_admin,
        )
        return services.invoice_send(invoice=invoice, actor=billing_admin)


def sweep(day: datetime.date) -> services.SweepResult:
    with time_machine.travel(datetime.datetime.combine(day, datetime.time(6, 30), IST)):
        return services.overdue_sweep()


def steps(invoice, kind=OutboundEmail.Kind.REMINDER) -> list[str]:
    return sorted(invoice.emails.filter(kind=kind).values_list("step", flat=True))


def days(n: int) -> datetime.date:
    return DUE + datetime.timedelta(days=n)


@pytest.mark.parametrize(
    ("offset", "step"),
    [
        (-4, None),
        (-3, "before-due"),
        (-1, "before-due"),
        (0, "due"),
        (1, "overdue-1"),
        (7, "overdue-1"),
        (8, "overdue-2"),
        (15, "overdue-3"),
    ],
)
def test_the_reminder_step_of_each_day(sent, offset, step):
    assert services.reminder_step(sent, days(offset)) == step


def test_every_day_of_a_month_sends_each_step_once(sent):
    for n in range(-5, 15):
        sweep(days(n))
        sweep(days(n))  # a second run the same day sends nothing
    assert steps(sent) == ["before-due", "due", "overdue-1", "overdue-2"]
    sent.refresh_from_db()
    assert sent.status == "overdue"
    event = sent.events.get(type="overdue")
    assert (event.actor, event.to_status) == (None, "overdue")


def test_a_sweep_that_missed_days_catches_up_without_sending_twice(sent):
    sweep(days(-3))  # before-due
    sweep(days(9))  # the sweep did not run for twelve days
    sweep(days(9))
    assert steps(sent) == ["before-due", "overdue-2"]  # only the step current today
    sent.refresh_from_db()
    assert sent.status == "overdue"


def test_past_the_grace_period_the_tenant_is_suspended_and_admins_told_once(
    sent, acme, billing_admin
):
    sweep(days(15))
    acme.refresh_from_db()
    assert acme.status == "active"  # 15 days late is within the grace period
    result = sweep(days(16))
    sweep(days(17))
    acme.refresh_from_db()
    assert result.suspended == ["Acme Cloud"]
    assert (acme.status, acme.auto_suspended) == ("suspended", True)
    assert sent.number in acme.status_reason
    [notice] = sent.emails.filter(kind=OutboundEmail.Kind.ADMIN_NOTICE)
    assert notice.to == [billing_admin.email]


def test_paying_what_is_overdue_lifts_an_automatic_suspension(sent, acme, finance):
    sweep(days(16))
    payment_record_manual(
        invoice=sent,
        amount=sent.total,
        method="neft",
        reference="UTR7",
        received_on=days(16),
        actor=finance,
    )
    acme.refresh_from_db()
    assert (acme.status, acme.auto_suspended) == ("active", False)


def test_a_suspension_by_a_person_is_not_lifted_by_a_payment(sent, acme, finance, billing_admin):
    sweep(days(2))
    tenant_set_status(tenant=acme, status="suspended", reason="Fraud review", actor=billing_admin)
    payment_record_manual(
        invoice=sent,
        amount=sent.total,
        method="neft",
        reference="UTR8",
        received_on=days(2),
        actor=finance,
    )
    acme.refresh_from_db()
    assert acme.status == "suspended"


def test_a_paid_invoice_is_left_alone(sent, finance):
    payment_record_manual(
        invoice=sent,
        amount=sent.total,
        method="neft",
        reference="UTR1",
        received_on=datetime.date(2026, 10, 10),
        actor=finance,
    )
    result = sweep(days(40))
    sent.refresh_from_db()
    assert sent.status == "paid"
    assert (result.marked_overdue, result.reminders, result.suspended) == (0, 0, [])


@pytest.fixture
def monthly_draft(acme, provider):
    with time_machine.travel(ISSUED):
        return services.invoice_create(
            tenant=acme,
            lines=[services.LineData("Plan fee", Decimal("1"), Decimal("25000"), kind="recurring")],
            actor=None,
            kind="subscription",
            period_start=datetime.date(2026, 9, 1),
            period_end=datetime.date(2026, 9, 30),
        )


def test_monthly_drafts_are_finalized_after_the_grace_period_and_wait_for_approval(monthly_draft):
    assert sweep(datetime.date(2026, 10, 3)).finalized == 0  # two days: still editable
    assert sweep(datetime.date(2026, 10, 4)).finalized == 1
    monthly_draft.refresh_from_db()
    assert monthly_draft.status == "pending"
    assert monthly_draft.approved_at is None
    assert monthly_draft.number


def test_with_auto_approve_they_are_approved_and_sent_by_the_system(monthly_draft, provider):
    provider.auto_approve = True
    provider.save()
    sweep(datetime.date(2026, 10, 4))
    monthly_draft.refresh_from_db()
    assert monthly_draft.status == "sent"
    assert monthly_draft.approved_by is None
    assert monthly_draft.approved_at is not None
    assert steps(monthly_draft, OutboundEmail.Kind.INVOICE_SENT) == [""]
