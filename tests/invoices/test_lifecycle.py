"""Every status x every action through the services: allowed ones work, the rest change nothing.

The expected table below is written out by hand from DESIGN.md ("The invoice lifecycle") rather
than derived from ``invoices.lifecycle.ACTIONS``, so that a change to the code's table shows up here
as a failure to look at, not as a silent agreement.
"""

import datetime
import re
from collections.abc import Callable
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.signals import pre_save

from invoices import services
from invoices.lifecycle import (
    ACTIONS,
    TRANSITIONS,
    InvoiceActionError,
    available_actions,
    invoice_lock,
    invoice_transition,
)
from invoices.models import Dispute, Invoice, InvoiceEvent, InvoiceLine, OutboundEmail
from invoices.services import LineData
from payments.models import Payment, Refund
from payments.services import pay_now_start, payment_record_manual, refund_record
from tests.invoices.builders import (
    DEFAULT_TOTAL,
    DISPUTE_REASON,
    PART_PAYMENT,
    noon_ist,
    reload,
    snapshot,
    today,
)

S = Invoice.Status
STATUSES = list(S.values)
STAFF_ACTIONS = [action for action, (_, perm) in ACTIONS.items() if perm is not None]

# What a billing admin (or, for ``dispute`` and ``pay``, the tenant's owner) may do to the invoice
# the builder makes in each status: overdue with nothing paid, voided from sent, refunded in full.
ALLOWED: dict[str, set[str]] = {
    S.DRAFT: {"edit", "finalize", "send", "void", "regenerate"},
    S.PENDING: {"approve", "send", "void", "regenerate"},
    S.SENT: {"remind", "void", "regenerate", "record_payment", "dispute", "pay"},
    S.PARTIALLY_PAID: {"remind", "record_payment", "refund", "dispute", "pay"},
    S.PAID: {"refund", "dispute"},
    S.OVERDUE: {"remind", "void", "regenerate", "record_payment", "dispute", "pay"},
    S.VOIDED: set(),
    S.REFUNDED: set(),
}

# 200 GB-months at ₹4.50 = ₹900.00, + CGST 9% ₹81.00 + SGST 9% ₹81.00 = ₹1,062.00.
STORAGE_LINES = (
    LineData(
        description="Block storage: GB-months",
        quantity=Decimal("200"),
        unit_price=Decimal("4.50"),
        kind=InvoiceLine.Kind.USAGE,
        unit="GB-month",
    ),
)
PAYMENT = Decimal("100.00")
REFUND = Decimal("100.00")
NUMBER = re.compile(r"^CRS/\d{4}/\d{5}$")


def run_action(action: str, invoice: Invoice, actor: User) -> object:
    """Take ``action`` through its service, with arguments a real form would send."""
    if action == "edit":
        return services.invoice_update_draft(
            invoice=invoice,
            lines=STORAGE_LINES,
            actor=actor,
            discount=Decimal("0.00"),
            due_date=None,
            notes="Storage only",
        )
    if action == "finalize":
        return services.invoice_finalize(invoice=invoice, actor=actor)
    if action == "approve":
        return services.invoice_approve(invoice=invoice, actor=actor)
    if action == "send":
        return services.invoice_send(invoice=invoice, actor=actor)
    if action == "remind":
        return services.invoice_remind(invoice=invoice, actor=actor)
    if action == "void":
        return services.invoice_void(invoice=invoice, actor=actor, reason="Wrong customer")
    if action == "regenerate":
        return services.invoice_regenerate(invoice=invoice, actor=actor, reason="Wrong rate")
    if action == "record_payment":
        return payment_record_manual(
            invoice=invoice,
            amount=PAYMENT,
            method=Payment.Method.NEFT,
            reference="UTR123",
            received_on=today(),
            actor=actor,
        )
    if action == "refund":
        # An invoice with no payment is refused before the payment is looked at.
        payment = invoice.payments.order_by("id").first() or Payment(invoice=invoice)
        return refund_record(
            invoice=invoice, payment=payment, amount=REFUND, reason="Goodwill credit", actor=actor
        )
    if action == "resolve_dispute":
        return services.dispute_resolve(
            invoice=invoice, actor=actor, resolution="Credited 10 vCPU-hours on the next invoice."
        )
    if action == "dispute":
        return services.dispute_open(invoice=invoice, actor=actor, reason=DISPUTE_REASON)
    if action == "pay":
        # The whole balance, through the real SDK to the sandbox (see ``inprocess_http``).
        return pay_now_start(invoice=invoice, amount=max(invoice.balance_due, PAYMENT), actor=actor)
    raise AssertionError(f"no runner for {action}")


def new_events(invoice: Invoice, before: dict) -> list[InvoiceEvent]:
    seen = {e["id"] for e in before["events"]}
    return [e for e in InvoiceEvent.objects.filter(invoice=invoice) if e.pk not in seen]


def moves(events: list[InvoiceEvent]) -> list[tuple[str, str, str]]:
    return [(e.type, e.from_status, e.to_status) for e in events]


# --- What an allowed action leaves behind -----------------------------------------------------


def after_edit(old: Invoice, new: Invoice, events: list[InvoiceEvent], actor: User) -> None:
    assert new.status == S.DRAFT
    assert new.number is None
    assert [line.description for line in new.lines.all()] == ["Block storage: GB-months"]
    assert (new.taxable_value, new.cgst, new.sgst, new.total) == (
        Decimal("900.00"),
        Decimal("81.00"),
        Decimal("81.00"),
        Decimal("1062.00"),
    )
    assert new.notes == "Storage only"
    assert moves(events) == [("edited", "", "")]


def after_finalize(old: Invoice, new: Invoice, events: list[InvoiceEvent], actor: User) -> None:
    assert new.status == S.PENDING
    assert NUMBER.match(new.number or "")
    assert new.issue_date == today()
    assert new.finalized_at is not None
    assert new.customer["legal_name"] == new.tenant.legal_name
    assert new.supplier["gstin"] == "27AAHCC4821K1ZJ"
    assert moves(events) == [("finalized", S.DRAFT, S.PENDING)]
    assert events[0].note == f"Issued as {new.number}"


def after_approve(old: Invoice, new: Invoice, events: list[InvoiceEvent], actor: User) -> None:
    assert new.status == S.PENDING
    assert new.approved_by == actor
    assert new.approved_at is not None
    assert moves(events) == [("approved", "", "")]


def after_send(old: Invoice, new: Invoice, events: list[InvoiceEvent], actor: User) -> None:
    assert new.status == S.SENT
    assert new.sent_at is not None
    assert new.sent_to == new.tenant.billing_email
    assert new.approved_by == actor  # the sender approves what they send
    issue = [("finalized", S.DRAFT, S.PENDING)] if old.status == S.DRAFT else []
    assert moves(events) == [*issue, ("approved", "", ""), ("sent", S.PENDING, S.SENT)]
    emails = new.emails.filter(kind=OutboundEmail.Kind.INVOICE_SENT)
    assert [(e.to, e.status) for e in emails] == [([new.tenant.billing_email], "queued")]


def after_remind(old: Invoice, new: Invoice, events: list[InvoiceEvent], actor: User) -> None:
    assert new.status == old.status
    reminders = new.emails.filter(kind=OutboundEmail.Kind.REMINDER)
    assert [(e.step, e.to) for e in reminders] == [("manual-1", [new.tenant.billing_email])]
    assert moves(events) == [("reminder", "", "")]
    assert events[0].amount == old.balance_due


def after_void(old: Invoice, new: Invoice, events: list[InvoiceEvent], actor: User) -> None:
    assert new.status == S.VOIDED
    assert new.voided_at is not None
    assert new.void_reason == "Wrong customer"
    assert new.balance_due == 0
    assert new.total == old.total  # issued amounts never change
    assert new.number == old.number  # a draft voided before issue never takes a number
    assert moves(events) == [("voided", old.status, S.VOIDED)]


def after_regenerate(old: Invoice, new: Invoice, events: list[InvoiceEvent], actor: User) -> None:
    assert new.status == S.VOIDED
    assert moves(events) == [("voided", old.status, S.VOIDED), ("regenerated", "", "")]
    draft = new.regenerated_as
    assert draft.status == S.DRAFT
    assert draft.number is None
    assert draft.total == old.total
    assert list(draft.lines.values_list("description", "quantity", "unit_price")) == list(
        old.lines.values_list("description", "quantity", "unit_price")
    )
    assert moves(list(draft.events.all())) == [("created", "", ""), ("regenerated", "", "")]
    assert all(e.actor == actor for e in draft.events.all())


def after_record_payment(
    old: Invoice, new: Invoice, events: list[InvoiceEvent], actor: User
) -> None:
    expected = S.PARTIALLY_PAID if old.status == S.SENT else old.status
    assert new.status == expected
    assert new.amount_paid == old.amount_paid + PAYMENT
    assert new.balance_due == old.balance_due - PAYMENT
    payment = new.payments.get(amount=PAYMENT, reference="UTR123")
    assert (payment.status, payment.method, payment.recorded_by) == ("captured", "neft", actor)
    assert moves(events) == [("payment", old.status, expected)]
    assert events[0].amount == PAYMENT
    assert new.emails.filter(kind=OutboundEmail.Kind.RECEIPT, step=f"payment-{payment.pk}").exists()


def after_refund(old: Invoice, new: Invoice, events: list[InvoiceEvent], actor: User) -> None:
    assert new.status == S.REFUNDED
    assert new.amount_refunded == old.amount_refunded + REFUND
    assert new.amount_paid == old.amount_paid
    refund = Refund.objects.get(invoice=new)
    assert (refund.amount, refund.status, refund.recorded_by) == (REFUND, "processed", actor)
    assert refund.payment.amount_refunded == REFUND
    assert moves(events) == [("refund", old.status, S.REFUNDED)]
    assert events[0].amount == REFUND


def after_pay(old: Invoice, new: Invoice, events: list[InvoiceEvent], actor: User) -> None:
    # Only an order with the gateway: the money moves when the gateway confirms it.
    assert (new.status, new.amount_paid, new.balance_due) == (
        old.status,
        old.amount_paid,
        old.balance_due,
    )
    payment = new.payments.get(method=Payment.Method.RAZORPAY)
    assert (payment.status, payment.amount, payment.recorded_by) == (
        Payment.Status.CREATED,
        old.balance_due,
        actor,
    )
    assert payment.gateway_order_id.startswith("order_")
    assert moves(events) == [("payment_started", "", "")]
    assert events[0].amount == old.balance_due


def after_dispute(old: Invoice, new: Invoice, events: list[InvoiceEvent], actor: User) -> None:
    assert new.status == old.status
    assert new.disputed
    dispute = new.disputes.get()
    assert (dispute.opened_by, dispute.reason, dispute.resolved_at) == (actor, DISPUTE_REASON, None)
    assert moves(events) == [("disputed", "", "")]


AFTER: dict[str, Callable[[Invoice, Invoice, list[InvoiceEvent], User], None]] = {
    "edit": after_edit,
    "finalize": after_finalize,
    "approve": after_approve,
    "send": after_send,
    "remind": after_remind,
    "void": after_void,
    "regenerate": after_regenerate,
    "record_payment": after_record_payment,
    "refund": after_refund,
    "dispute": after_dispute,
    "pay": after_pay,
}


def matrix_cases():
    for status in STATUSES:
        for action in ACTIONS:
            yield pytest.param(status, action, id=f"{status}-{action}")


def test_the_matrix_covers_every_status_and_action():
    assert set(ALLOWED) == set(STATUSES) == set(TRANSITIONS)
    assert set(AFTER) | {"resolve_dispute"} == set(ACTIONS)
    assert len(list(matrix_cases())) == 8 * 12


@pytest.mark.parametrize(("status", "action"), list(matrix_cases()))
def test_an_action_works_where_the_lifecycle_allows_it_and_changes_nothing_elsewhere(
    make_invoice, billing_admin, owner, status, action, request
):
    invoice = make_invoice(status)
    actor = owner if action in ("dispute", "pay") else billing_admin
    if action == "pay":
        request.getfixturevalue("inprocess_http")
    before = snapshot(invoice)

    if action in ALLOWED[status]:
        assert action in available_actions(invoice, actor)
        run_action(action, invoice, actor)
        after = reload(invoice)
        events = new_events(invoice, before)
        assert events, "an action leaves a timeline row"
        assert all(e.actor == actor for e in events)
        AFTER[action](invoice, after, events, actor)
    else:
        assert action not in available_actions(invoice, actor)
        with pytest.raises(InvoiceActionError) as refused:
            run_action(action, invoice, actor)
        assert refused.value.messages[0].strip()
        assert snapshot(invoice) == before


# --- Rules the table does not show ------------------------------------------------------------


def test_void_is_refused_once_a_payment_exists(make_invoice, billing_admin):
    # Overdue is the one status void applies to where money can already have been received.
    invoice = make_invoice(S.OVERDUE, paid=PART_PAYMENT)
    before = snapshot(invoice)
    for action in ("void", "regenerate"):
        with pytest.raises(InvoiceActionError, match="refund it instead of voiding"):
            run_action(action, invoice, billing_admin)
    assert snapshot(invoice) == before


def test_an_overdue_invoice_with_money_received_can_be_refunded(make_invoice, billing_admin):
    invoice = make_invoice(S.OVERDUE, paid=PART_PAYMENT)
    assert "refund" in available_actions(invoice, billing_admin)
    run_action("refund", invoice, billing_admin)
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_refunded) == (S.REFUNDED, REFUND)
    assert moves(list(invoice.events.filter(type="refund"))) == [("refund", S.OVERDUE, S.REFUNDED)]


def test_a_part_payment_leaves_an_overdue_invoice_overdue_and_the_rest_makes_it_paid(
    make_invoice, billing_admin
):
    invoice = make_invoice(S.OVERDUE)
    make_invoice.pay(invoice, PART_PAYMENT)
    invoice = reload(invoice)
    assert (invoice.status, invoice.balance_due) == (S.OVERDUE, DEFAULT_TOTAL - PART_PAYMENT)
    make_invoice.pay(invoice, invoice.balance_due)
    invoice = reload(invoice)
    assert (invoice.status, invoice.balance_due, invoice.paid_at is not None) == (S.PAID, 0, True)
    assert moves(list(invoice.events.filter(type="payment"))) == [
        ("payment", S.OVERDUE, S.OVERDUE),
        ("payment", S.OVERDUE, S.PAID),
    ]


def test_a_partly_paid_invoice_passing_its_due_date_becomes_overdue(make_invoice):
    invoice = make_invoice(S.OVERDUE, paid=PART_PAYMENT)
    assert invoice.amount_paid == PART_PAYMENT
    event = invoice.events.get(type="overdue")
    assert (event.from_status, event.to_status, event.actor) == (
        S.PARTIALLY_PAID,
        S.OVERDUE,
        None,
    )
    assert event.actor_name == "System"


def test_an_invoice_is_not_overdue_on_its_due_date(make_invoice):
    invoice = make_invoice(S.SENT)
    before = snapshot(invoice)
    with time_machine.travel(noon_ist(invoice.due_date)):
        assert services.invoice_mark_overdue(invoice=invoice) is None
    assert snapshot(invoice) == before


def test_a_paid_invoice_never_becomes_overdue(make_invoice):
    invoice = make_invoice(S.PAID)
    before = snapshot(invoice)
    with time_machine.travel(noon_ist(invoice.due_date + datetime.timedelta(days=40))):
        assert services.invoice_mark_overdue(invoice=invoice) is None
    assert snapshot(invoice) == before


def test_a_partly_refunded_invoice_takes_a_further_refund_and_stays_refunded(
    make_invoice, billing_admin
):
    invoice = make_invoice(S.REFUNDED, refund=Decimal("180.00"))
    assert invoice.amount_refunded == Decimal("180.00")
    assert "refund" in available_actions(invoice, billing_admin)
    run_action("refund", invoice, billing_admin)
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_refunded) == (S.REFUNDED, Decimal("280.00"))
    assert moves(list(invoice.events.filter(type="refund"))) == [
        ("refund", S.PAID, S.REFUNDED),
        ("refund", S.REFUNDED, S.REFUNDED),
    ]


def test_approve_is_refused_once_approved(make_invoice, billing_admin):
    invoice = make_invoice(S.PENDING)
    services.invoice_approve(invoice=invoice, actor=billing_admin)
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="approved already"):
        services.invoice_approve(invoice=invoice, actor=billing_admin)
    assert snapshot(invoice) == before


def test_sending_an_approved_invoice_does_not_approve_it_again(make_invoice, billing_admin):
    invoice = make_invoice(S.PENDING)
    services.invoice_approve(invoice=invoice, actor=billing_admin)
    services.invoice_send(invoice=invoice, actor=billing_admin)
    assert list(reload(invoice).events.values_list("type", flat=True)) == [
        "created",
        "finalized",
        "approved",
        "sent",
    ]


def test_customer_details_are_frozen_when_the_invoice_is_issued(make_invoice, billing_admin, acme):
    invoice = make_invoice(S.PENDING)
    acme.legal_name = "Acme Renamed Private Limited"
    acme.address_line1 = "99 New Road"
    acme.save()
    services.invoice_send(invoice=invoice, actor=billing_admin)
    invoice = reload(invoice)
    assert invoice.customer["legal_name"] == "Acme Cloud Private Limited"
    assert invoice.customer["address_lines"][0] == "1 MG Road"
    assert "Acme Cloud Private Limited" in invoice.emails.get().body_text


def test_a_draft_is_taxed_for_where_the_customer_is_when_it_is_issued(
    make_invoice, billing_admin, acme
):
    draft = make_invoice(S.DRAFT)
    assert (draft.cgst, draft.igst) == (Decimal("90.00"), 0)
    # The customer re-registers in Karnataka before the draft is issued: IGST, not CGST + SGST.
    acme.state, acme.gstin = "29", ""
    acme.save()
    services.invoice_finalize(invoice=draft, actor=billing_admin)
    issued = reload(draft)
    assert (issued.place_of_supply, issued.cgst, issued.sgst, issued.igst, issued.total) == (
        "29",
        0,
        0,
        Decimal("180.00"),
        Decimal("1180.00"),
    )


def test_a_due_date_in_the_past_is_replaced_by_the_payment_terms(make_invoice, billing_admin):
    invoice = make_invoice(S.PENDING, due_date=today() - datetime.timedelta(days=3))
    assert invoice.due_date == invoice.issue_date + datetime.timedelta(days=15)
    later = today() + datetime.timedelta(days=45)
    assert make_invoice(S.PENDING, due_date=later).due_date == later


def test_an_edit_that_cannot_be_taxed_is_refused_and_the_draft_keeps_its_lines(
    make_invoice, billing_admin
):
    draft = make_invoice(S.DRAFT)
    before = snapshot(draft)
    with pytest.raises(InvoiceActionError, match="larger than the charges"):
        services.invoice_update_draft(
            invoice=draft,
            lines=STORAGE_LINES,
            actor=billing_admin,
            discount=Decimal("900.01"),
            due_date=None,
            notes="",
        )
    with pytest.raises(InvoiceActionError, match="at least one line"):
        services.invoice_update_draft(
            invoice=draft, lines=[], actor=billing_admin, discount=0, due_date=None, notes=""
        )
    assert snapshot(draft) == before


def test_issuing_without_the_providers_details_is_refused_and_takes_no_number(
    make_invoice, billing_admin, provider
):
    draft = make_invoice(S.DRAFT)
    provider.delete()
    before = snapshot(draft)
    with pytest.raises(InvoiceActionError, match="provider's details"):
        services.invoice_finalize(invoice=draft, actor=billing_admin)
    assert snapshot(draft) == before


def test_a_monthly_invoice_regenerated_keeps_its_period_and_a_second_live_one_is_refused(
    provider, acme, billing_admin
):
    period = {"period_start": datetime.date(2026, 5, 1), "period_end": datetime.date(2026, 5, 31)}
    monthly = services.invoice_create(
        tenant=acme, lines=STORAGE_LINES, actor=billing_admin, kind="subscription", **period
    )
    with pytest.raises(InvoiceActionError, match="already has an invoice for this period"):
        services.invoice_create(
            tenant=acme, lines=STORAGE_LINES, actor=billing_admin, kind="subscription", **period
        )
    services.invoice_send(invoice=monthly, actor=billing_admin)
    draft = services.invoice_regenerate(invoice=monthly, actor=billing_admin, reason="Wrong rate")
    assert (draft.kind, draft.period_start, draft.period_end) == (
        "subscription",
        period["period_start"],
        period["period_end"],
    )
    assert reload(monthly).status == S.VOIDED
    assert draft.regenerated_from == monthly


def test_voiding_needs_a_reason(make_invoice, billing_admin):
    invoice = make_invoice(S.SENT)
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="reason"):
        services.invoice_void(invoice=invoice, actor=billing_admin, reason="   ")
    assert snapshot(invoice) == before


@pytest.mark.parametrize(
    "status", [S.SENT, S.PARTIALLY_PAID, S.PAID, S.OVERDUE, S.VOIDED, S.REFUNDED]
)
def test_an_open_dispute_can_be_resolved_in_every_status_it_can_reach(
    make_invoice, billing_admin, owner, status
):
    invoice = make_invoice(status, dispute_by=owner)
    assert invoice.disputed
    assert "resolve_dispute" in available_actions(invoice, billing_admin)
    run_action("resolve_dispute", invoice, billing_admin)
    invoice = reload(invoice)
    assert not invoice.disputed
    assert invoice.status == status
    dispute = invoice.disputes.get()
    assert (dispute.resolved_by, dispute.resolution) == (
        billing_admin,
        "Credited 10 vCPU-hours on the next invoice.",
    )
    event = invoice.events.get(type="dispute_resolved")
    assert (event.actor, event.from_status, event.to_status) == (billing_admin, "", "")
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="no open dispute"):
        run_action("resolve_dispute", invoice, billing_admin)
    assert snapshot(invoice) == before


def test_a_second_dispute_is_refused_while_one_is_open(make_invoice, owner, member_admin):
    invoice = make_invoice(S.SENT, dispute_by=owner)
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="already reported"):
        run_action("dispute", invoice, member_admin)
    assert snapshot(invoice) == before


def test_a_dispute_needs_a_real_description(make_invoice, owner):
    invoice = make_invoice(S.SENT)
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="10 characters"):
        services.dispute_open(invoice=invoice, actor=owner, reason="  wrong  ")
    assert snapshot(invoice) == before


def test_a_dispute_resolution_needs_words(make_invoice, billing_admin, owner):
    invoice = make_invoice(S.SENT, dispute_by=owner)
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="resolved"):
        services.dispute_resolve(invoice=invoice, actor=billing_admin, resolution=" ")
    assert snapshot(invoice) == before
    assert Dispute.objects.get(invoice=invoice).resolved_at is None


# --- Who may act ------------------------------------------------------------------------------


def test_finance_can_record_a_payment_and_a_refund(make_invoice, finance):
    invoice = make_invoice(S.SENT)
    assert {"record_payment"} <= set(available_actions(invoice, finance))
    run_action("record_payment", invoice, finance)
    invoice = reload(invoice)
    assert invoice.status == S.PARTIALLY_PAID
    assert "refund" in available_actions(invoice, finance)
    run_action("refund", invoice, finance)
    invoice = reload(invoice)
    assert (invoice.status, invoice.amount_refunded) == (S.REFUNDED, REFUND)
    assert {e.actor for e in invoice.events.filter(type__in=["payment", "refund"])} == {finance}


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (S.PENDING, "approve"),
        (S.PENDING, "send"),
        (S.DRAFT, "send"),
        (S.SENT, "void"),
        (S.PENDING, "void"),
        (S.SENT, "regenerate"),
        (S.SENT, "remind"),
        (S.DRAFT, "edit"),
        (S.DRAFT, "finalize"),
    ],
)
def test_finance_cannot_void_send_approve_or_edit(make_invoice, finance, status, action):
    invoice = make_invoice(status)
    assert action not in available_actions(invoice, finance)
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="Your role cannot"):
        run_action(action, invoice, finance)
    assert snapshot(invoice) == before


@pytest.mark.parametrize("customer", ["owner", "member_admin"])
def test_an_owner_or_admin_of_the_tenant_can_report_a_problem(make_invoice, request, customer):
    user = request.getfixturevalue(customer)
    invoice = make_invoice(S.SENT)
    assert available_actions(invoice, user) == ["dispute", "pay"]
    run_action("dispute", invoice, user)
    assert reload(invoice).disputed
    assert invoice.events.get(type="disputed").actor == user


# For each staff action, a status a billing admin could take it in: only the role stands in the way.
STAFF_ACTION_STATUS = {
    "edit": S.DRAFT,
    "finalize": S.DRAFT,
    "approve": S.PENDING,
    "send": S.PENDING,
    "remind": S.SENT,
    "void": S.SENT,
    "regenerate": S.SENT,
    "record_payment": S.SENT,
    "refund": S.PARTIALLY_PAID,
    "resolve_dispute": S.SENT,
}


@pytest.mark.parametrize("action", STAFF_ACTIONS)
def test_customers_cannot_take_staff_actions(make_invoice, billing_admin, owner, action):
    status = STAFF_ACTION_STATUS[action]
    invoice = make_invoice(status, dispute_by=owner if status != S.DRAFT else None)
    assert action in available_actions(invoice, billing_admin)
    assert action not in available_actions(invoice, owner)
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="Your role cannot"):
        run_action(action, invoice, owner)
    assert snapshot(invoice) == before


@pytest.mark.parametrize("customer", ["viewer", "other_owner"])
def test_a_viewer_or_another_tenants_owner_cannot_report_a_problem(make_invoice, request, customer):
    user = request.getfixturevalue(customer)
    invoice = make_invoice(S.SENT)
    assert available_actions(invoice, user) == []
    before = snapshot(invoice)
    with pytest.raises(InvoiceActionError, match="Your role cannot report a problem"):
        run_action("dispute", invoice, user)
    assert snapshot(invoice) == before


def test_staff_cannot_report_a_problem_for_the_customer(make_invoice, billing_admin):
    invoice = make_invoice(S.SENT)
    with pytest.raises(InvoiceActionError, match="Your role cannot"):
        run_action("dispute", invoice, billing_admin)


def attempt(action: str, invoice: Invoice, user: User) -> bool:
    """Whether the service accepts the action; whatever it wrote is rolled back either way."""
    savepoint = transaction.savepoint_create()
    try:
        run_action(action, reload(invoice), user)
    except InvoiceActionError:
        return False
    finally:
        transaction.savepoint_rollback(savepoint)
    return True


USERS = ["billing_admin", "finance", "owner", "member_admin", "viewer", "other_owner"]


def test_available_actions_agree_with_what_the_services_accept(make_invoice, request, owner):
    request.getfixturevalue("inprocess_http")  # Pay Now reaches the sandbox
    invoices = [make_invoice(status) for status in STATUSES]
    invoices += [
        make_invoice(S.SENT, dispute_by=owner),
        make_invoice(S.OVERDUE, paid=PART_PAYMENT),
        make_invoice(S.REFUNDED, refund=Decimal("180.00")),
    ]
    for name in USERS:
        user = request.getfixturevalue(name)
        for invoice in invoices:
            offered = set(available_actions(invoice, user))
            for action in ACTIONS:
                accepted = attempt(action, invoice, user)
                assert accepted == (action in offered), (name, invoice.status, action)


# --- The one door for status ------------------------------------------------------------------


@pytest.mark.parametrize("from_status", STATUSES)
def test_invoice_transition_refuses_every_move_not_in_the_table(
    make_invoice, billing_admin, from_status
):
    invoice = make_invoice(from_status)
    before = snapshot(invoice)
    illegal = [to for to in STATUSES if to not in TRANSITIONS[from_status]]
    assert from_status in illegal  # no status "moves" to itself
    for to_status in illegal:
        with pytest.raises(InvoiceActionError, match="cannot become"), transaction.atomic():
            invoice_transition(
                invoice=invoice_lock(invoice.pk),
                to_status=to_status,
                actor=billing_admin,
                event="edited",
            )
        assert snapshot(invoice) == before, to_status


def test_a_forged_move_back_from_paid_to_draft_is_refused(make_invoice, billing_admin):
    invoice = make_invoice(S.PAID)
    before = snapshot(invoice)

    def forge() -> None:
        with transaction.atomic():
            locked = invoice_lock(invoice.pk)
            locked.amount_paid = Decimal("0.00")
            invoice_transition(
                invoice=locked,
                to_status=S.DRAFT,
                actor=billing_admin,
                event="edited",
                update_fields=("amount_paid",),
            )

    with pytest.raises(InvoiceActionError, match="A paid invoice cannot become draft"):
        forge()
    assert snapshot(invoice) == before


@pytest.mark.parametrize(
    ("status", "options"),
    [
        (S.DRAFT, {}),
        (S.PENDING, {}),
        (S.SENT, {}),
        (S.PARTIALLY_PAID, {}),
        (S.PAID, {}),
        (S.OVERDUE, {}),
        (S.OVERDUE, {"paid": PART_PAYMENT}),
        (S.VOIDED, {"voided_from": S.PENDING}),
        (S.VOIDED, {"voided_from": S.SENT}),
        (S.VOIDED, {"voided_from": S.OVERDUE}),
        (S.REFUNDED, {}),
        (S.REFUNDED, {"paid": PART_PAYMENT}),
    ],
)
def test_every_status_change_is_a_legal_move_on_the_timeline(make_invoice, status, options):
    invoice = make_invoice(status, **options)
    current = S.DRAFT
    for event in invoice.events.exclude(to_status="").order_by("at", "id"):
        assert event.from_status == current
        assert event.to_status in TRANSITIONS[current]
        current = event.to_status
    assert current == invoice.status


def test_only_invoice_transition_writes_the_status(make_invoice, owner, monkeypatch):
    """Every status write the services make, in every path the builder walks, is in the door."""
    door: list[bool] = []
    writes: list[tuple[str, str, bool]] = []
    real_transition = services.invoice_transition

    def transition(**kwargs):
        door.append(True)
        try:
            return real_transition(**kwargs)
        finally:
            door.pop()

    def on_save(sender, instance, **kwargs):
        old = Invoice.objects.filter(pk=instance.pk).values_list("status", flat=True).first()
        if old is not None and old != instance.status:
            writes.append((old, instance.status, bool(door)))

    real_update = QuerySet.update

    def update(self, **kwargs):
        if self.model is Invoice and "status" in kwargs:
            writes.append(("?", kwargs["status"], bool(door)))
        return real_update(self, **kwargs)

    monkeypatch.setattr(services, "invoice_transition", transition)
    monkeypatch.setattr(QuerySet, "update", update)
    pre_save.connect(on_save, sender=Invoice)
    try:
        for status in STATUSES:
            make_invoice(status, dispute_by=owner if status not in (S.DRAFT, S.PENDING) else None)
        make_invoice(S.VOIDED, voided_from=S.DRAFT)
        make_invoice(S.VOIDED, voided_from=S.OVERDUE)
        make_invoice(S.REFUNDED, paid=PART_PAYMENT)
        overdue = make_invoice(S.OVERDUE, paid=PART_PAYMENT)
        make_invoice.pay(overdue, overdue.balance_due)
    finally:
        pre_save.disconnect(on_save, sender=Invoice)
    assert len(writes) > 20
    assert [w for w in writes if not w[2]] == []
