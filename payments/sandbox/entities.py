"""The sandbox's rows as Razorpay's JSON entities (orders, payments, refunds, collections, events).

Field names, types and nulls follow Razorpay's API reference, quirks included: empty ``notes`` are
``[]`` (Razorpay serialises an empty map as a list), amounts are integer paise and timestamps are
unix seconds.
"""

from collections.abc import Iterable
from typing import Any

from payments.sandbox.models import SandboxOrder, SandboxPayment, SandboxRefund

ACCOUNT_ID = "acc_sandbox"

Json = dict[str, Any]


def unix(value) -> int:
    return int(value.timestamp())


def _notes(notes: dict) -> dict | list:
    return notes if notes else []


def order_entity(order: SandboxOrder) -> Json:
    return {
        "id": order.id,
        "entity": "order",
        "amount": order.amount,
        "amount_paid": order.amount_paid,
        "amount_due": order.amount_due,
        "currency": order.currency,
        "receipt": order.receipt or None,
        "offer_id": None,
        "status": order.status,
        "attempts": order.attempts,
        "notes": _notes(order.notes),
        "created_at": unix(order.created_at),
    }


def card_entity(payment: SandboxPayment) -> Json | None:
    if payment.method != SandboxPayment.Method.CARD:
        return None
    return {
        "id": payment.card_id or None,
        "entity": "card",
        "name": payment.card_name,
        "last4": payment.card_last4,
        "network": payment.card_network,
        "type": payment.card_type,
        "issuer": None,
        "international": False,
        "emi": False,
        "sub_type": "consumer",
    }


def payment_fee(payment: SandboxPayment) -> tuple[int | None, int | None]:
    """Fee and its GST in paise, charged on capture: 2% plus 18% GST on it, like a standard plan."""
    if not payment.captured:
        return None, None
    fee = round(payment.amount * 2 / 100)
    tax = round(fee * 18 / 100)
    return fee + tax, tax


def payment_entity(payment: SandboxPayment) -> Json:
    fee, tax = payment_fee(payment)
    entity: Json = {
        "id": payment.id,
        "entity": "payment",
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status,
        "order_id": payment.order_id,
        "invoice_id": None,
        "international": False,
        "method": payment.method,
        "amount_refunded": payment.amount_refunded,
        "refund_status": payment.refund_status or None,
        "captured": payment.captured,
        "description": payment.description or None,
        "card_id": payment.card_id or None,
        "bank": payment.bank or None,
        "wallet": payment.wallet or None,
        "vpa": payment.vpa or None,
        "email": payment.email,
        "contact": payment.contact,
        "notes": _notes(payment.notes),
        "fee": fee,
        "tax": tax,
        "error_code": payment.error_code or None,
        "error_description": payment.error_description or None,
        "error_source": payment.error_source or None,
        "error_step": payment.error_step or None,
        "error_reason": payment.error_reason or None,
        "acquirer_data": payment.acquirer_data,
        "created_at": unix(payment.created_at),
    }
    card = card_entity(payment)
    if card is not None:
        entity["card"] = card
    if payment.method == SandboxPayment.Method.UPI:
        entity["upi"] = {"vpa": payment.vpa or None}
    return entity


def refund_entity(refund: SandboxRefund) -> Json:
    return {
        "id": refund.id,
        "entity": "refund",
        "amount": refund.amount,
        "currency": refund.currency,
        "payment_id": refund.payment_id,
        "notes": _notes(refund.notes),
        "receipt": refund.receipt or None,
        "acquirer_data": {"arn": refund.arn or None},
        "created_at": unix(refund.created_at),
        "batch_id": None,
        "status": refund.status,
        "speed_processed": "normal",
        "speed_requested": refund.speed_requested,
    }


def collection(items: Iterable[Json]) -> Json:
    listed = list(items)
    return {"entity": "collection", "count": len(listed), "items": listed}


def event_body(*, event: str, payload: dict[str, Json], created_at: int) -> Json:
    """A webhook body: ``payload`` maps each contained entity's name to its snapshot."""
    return {
        "entity": "event",
        "account_id": ACCOUNT_ID,
        "event": event,
        "contains": list(payload),
        "payload": {name: {"entity": entity} for name, entity in payload.items()},
        "created_at": created_at,
    }
