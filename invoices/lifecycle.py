"""The invoice status lifecycle: one table of moves, one door through which status changes.

    draft --finalize--> pending --approve+send--> sent --(payment)--> partially_paid --> paid
    sent or partially_paid --(due date passes)--> overdue --(payment in full)--> paid
    draft / pending / sent / overdue with nothing paid --void--> voided
    paid / partially_paid / overdue with money paid --refund--> refunded

``invoice_transition`` is the only code that writes ``Invoice.status``; it refuses a move the table
does not have and writes the timeline row in the same transaction. ``action_refusal`` says whether
a user may take an action now and, if not, why: pages use it to choose their buttons and services
check it again, so a forged POST changes nothing.
"""

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from invoices.models import Invoice, InvoiceEvent
from tenants.access import membership_of
from tenants.roles import customer_can, is_staff_member

S = Invoice.Status

TRANSITIONS: dict[str, set[str]] = {
    S.DRAFT: {S.PENDING, S.VOIDED},
    S.PENDING: {S.SENT, S.VOIDED},
    S.SENT: {S.PARTIALLY_PAID, S.PAID, S.OVERDUE, S.VOIDED},
    S.PARTIALLY_PAID: {S.PAID, S.OVERDUE, S.REFUNDED},
    # A part-payment on an overdue invoice leaves it overdue: it is still past its due date.
    S.OVERDUE: {S.PAID, S.VOIDED, S.REFUNDED},
    S.PAID: {S.REFUNDED},
    S.REFUNDED: set(),
    S.VOIDED: set(),
}

# Action -> (statuses it applies to, staff permission; None: a customer action).
ACTIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "edit": (frozenset({S.DRAFT}), "invoices.change_invoice"),
    "finalize": (frozenset({S.DRAFT}), "invoices.change_invoice"),
    "approve": (frozenset({S.PENDING}), "invoices.approve_invoice"),
    "send": (frozenset({S.DRAFT, S.PENDING}), "invoices.send_invoice"),
    "remind": (frozenset({S.SENT, S.PARTIALLY_PAID, S.OVERDUE}), "invoices.send_invoice"),
    "void": (frozenset({S.DRAFT, S.PENDING, S.SENT, S.OVERDUE}), "invoices.void_invoice"),
    "regenerate": (frozenset({S.DRAFT, S.PENDING, S.SENT, S.OVERDUE}), "invoices.void_invoice"),
    "record_payment": (
        frozenset({S.SENT, S.PARTIALLY_PAID, S.OVERDUE}),
        "invoices.record_payment",
    ),
    "refund": (
        frozenset({S.PARTIALLY_PAID, S.PAID, S.OVERDUE, S.REFUNDED}),
        "invoices.record_payment",
    ),
    "resolve_dispute": (frozenset(S.values), "invoices.resolve_dispute"),
    "dispute": (frozenset({S.SENT, S.PARTIALLY_PAID, S.PAID, S.OVERDUE}), None),
    "pay": (frozenset({S.SENT, S.PARTIALLY_PAID, S.OVERDUE}), None),
}

ACTION_LABELS = {
    "edit": "Edit draft",
    "finalize": "Finalize",
    "approve": "Approve",
    "send": "Send",
    "remind": "Send reminder",
    "void": "Void",
    "regenerate": "Regenerate",
    "record_payment": "Record payment",
    "refund": "Record refund",
    "resolve_dispute": "Resolve dispute",
    "dispute": "Report a problem",
    "pay": "Pay now",
}

CUSTOMER_CAPABILITY = {"dispute": "invoice.dispute", "pay": "invoice.pay"}


class InvoiceActionError(ValidationError):
    """An action refused: the message is shown to the user and nothing was changed."""


def action_permitted(invoice: Invoice, user: User | AnonymousUser, action: str) -> bool:
    """Whether the user's role may ever take ``action`` on this invoice (else: 403)."""
    _, staff_perm = ACTIONS[action]
    if staff_perm is None:
        membership = membership_of(user, invoice.tenant)
        return membership is not None and customer_can(membership.role, CUSTOMER_CAPABILITY[action])
    return is_staff_member(user) and user.has_perm(staff_perm)


def action_refusal(invoice: Invoice, user: User | AnonymousUser, action: str) -> str | None:
    """None when ``user`` may take ``action`` on ``invoice`` now, else the reason why not."""
    if not action_permitted(invoice, user, action):
        return f"Your role cannot {ACTION_LABELS[action].lower()}."
    return status_refusal(invoice, action)


def status_refusal(invoice: Invoice, action: str) -> str | None:
    """Why the invoice, as it is now, cannot take ``action`` (whoever asks), or None."""
    statuses, _ = ACTIONS[action]
    if invoice.status not in statuses:
        label = ACTION_LABELS[action].lower()
        return f"A {invoice.get_status_display().lower()} invoice cannot be given “{label}”."
    return _state_refusal(invoice, action)


def _state_refusal(invoice: Invoice, action: str) -> str | None:
    if action == "approve" and invoice.approved_at:
        return "This invoice is approved already."
    if action in ("void", "regenerate") and invoice.amount_paid > 0:
        return "Money has been received on this invoice: refund it instead of voiding."
    if action in ("record_payment", "pay") and invoice.balance_due <= 0:
        return "Nothing is due on this invoice."
    if action == "refund" and invoice.refundable <= 0:
        return "Everything received on this invoice has been refunded."
    if action == "dispute" and invoice.disputed:
        return "A problem is already reported on this invoice."
    if action == "resolve_dispute" and not invoice.disputed:
        return "There is no open dispute on this invoice."
    if action in ("finalize", "send") and invoice.status == S.DRAFT and invoice.line_count == 0:
        return "Add at least one line before finalizing."
    return None


def available_actions(invoice: Invoice, user: User | AnonymousUser) -> list[str]:
    return [action for action in ACTIONS if action_refusal(invoice, user, action) is None]


def check_action(invoice: Invoice, user: User | AnonymousUser | None, action: str) -> None:
    """Raise InvoiceActionError unless the action is allowed (``user`` None: the system)."""
    reason = (
        status_refusal(invoice, action) if user is None else action_refusal(invoice, user, action)
    )
    if reason:
        raise InvoiceActionError(reason)


def invoice_lock(invoice_id: int) -> Invoice:
    """The invoice row, locked until the surrounding transaction ends."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoice_lock needs a transaction")
    # of=("self",): lock the invoice only, not its tenant's row (joined by select_related), so
    # one tenant's invoices can be worked on at once and the tenant's profile stays editable.
    return (
        Invoice.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=invoice_id)
    )


def invoice_event(
    *,
    invoice: Invoice,
    type: str,
    actor: User | None,
    amount=None,
    note: str = "",
    from_status: str = "",
    to_status: str = "",
) -> InvoiceEvent:
    return InvoiceEvent.objects.create(
        invoice=invoice,
        type=type,
        actor=actor if actor is not None and actor.is_authenticated else None,
        amount=amount,
        note=note[:500],
        from_status=from_status,
        to_status=to_status,
    )


def invoice_transition(
    *,
    invoice: Invoice,
    to_status: str,
    actor: User | None,
    event: str,
    amount=None,
    note: str = "",
    update_fields: tuple[str, ...] = (),
) -> Invoice:
    """Move a locked invoice to ``to_status``, saving ``update_fields`` with it, and log it."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoice_transition needs a transaction (and a locked row)")
    from_status = invoice.status
    if to_status not in TRANSITIONS[from_status]:
        raise InvoiceActionError(
            f"A {invoice.get_status_display().lower()} invoice cannot become "
            f"{S(to_status).label.lower()}."
        )
    now = timezone.now()
    stamps: dict[str, str] = {S.SENT: "sent_at", S.PAID: "paid_at", S.VOIDED: "voided_at"}
    fields = {"status", "updated_at", *update_fields}
    if to_status in stamps:
        setattr(invoice, stamps[to_status], now)
        fields.add(stamps[to_status])
    invoice.status = to_status
    invoice.save(update_fields=sorted(fields))
    invoice_event(
        invoice=invoice,
        type=event,
        actor=actor,
        amount=amount,
        note=note,
        from_status=from_status,
        to_status=to_status,
    )
    return invoice
