"""The one adapter around Razorpay's SDK: every call the product makes to the gateway is here.

Its base URL, keys and webhook secret come from settings, so the same code talks to Razorpay in
production and to the project's sandbox (``payments.sandbox``) in the demo and the tests. Each call
has a timeout; a call is tried again only when the connection could not be made (the request never
left), so a refund is never sent twice. Errors are typed: ``GatewayUnavailable`` (try later, nothing
happened), ``GatewayRejected`` (the gateway said no, with its reason).

Paise exist only here: amounts cross this boundary as ``Decimal`` rupees (``amount * 100`` exactly).
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import razorpay
import requests
from django.conf import settings
from razorpay.errors import BadRequestError, GatewayError, ServerError, SignatureVerificationError

from payments import transport

log = logging.getLogger(__name__)

CONNECT_ATTEMPTS = 3
CONNECT_BACKOFF_SECONDS = 0.5


class GatewayFailure(Exception):
    """A call to the gateway did not do what was asked; ``str()`` is fit to show a person."""


class GatewayUnavailable(GatewayFailure):
    """No answer (connection refused, timeout, a 5xx): nothing is known to have happened."""


class GatewayRejected(GatewayFailure):
    """The gateway answered and refused the request."""


def to_paise(amount: Decimal) -> int:
    paise = amount * 100
    if paise != paise.to_integral_value():
        raise ValueError(f"{amount} has fractions of a paisa")
    return int(paise)


def from_paise(paise: int) -> Decimal:
    return (Decimal(paise) / 100).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Order:
    id: str
    amount: Decimal
    amount_paid: Decimal
    currency: str
    receipt: str
    status: str  # created, attempted, paid

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> "Order":
        return cls(
            id=entity["id"],
            amount=from_paise(entity["amount"]),
            amount_paid=from_paise(entity.get("amount_paid") or 0),
            currency=entity.get("currency", "INR"),
            receipt=entity.get("receipt") or "",
            status=entity.get("status", ""),
        )


@dataclass(frozen=True)
class Payment:
    id: str
    order_id: str
    status: str  # created, authorized, captured, refunded, failed
    amount: Decimal
    currency: str
    method: str
    amount_refunded: Decimal
    error_description: str
    error_reason: str

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> "Payment":
        return cls(
            id=entity["id"],
            order_id=entity.get("order_id") or "",
            status=entity.get("status", ""),
            amount=from_paise(entity["amount"]),
            currency=entity.get("currency", "INR"),
            method=entity.get("method") or "",
            amount_refunded=from_paise(entity.get("amount_refunded") or 0),
            error_description=entity.get("error_description") or "",
            error_reason=entity.get("error_reason") or "",
        )

    @property
    def money_taken(self) -> bool:
        """Captured (a refunded payment was captured first: its money arrived)."""
        return self.status in ("captured", "refunded")


@dataclass(frozen=True)
class Refund:
    id: str
    payment_id: str
    amount: Decimal
    status: str  # pending, processed, failed
    notes: dict[str, Any]

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> "Refund":
        notes = entity.get("notes") or {}
        return cls(
            id=entity["id"],
            payment_id=entity.get("payment_id") or "",
            amount=from_paise(entity["amount"]),
            status=entity.get("status", ""),
            notes=notes if isinstance(notes, dict) else {},
        )


def client() -> razorpay.Client:
    return razorpay.Client(
        session=transport.session(),
        auth=(settings.RAZORPAY_KEY_ID, settings.RAZORPAY_KEY_SECRET),
        base_url=settings.RAZORPAY_BASE_URL,
    )


def _never_sent(error: requests.exceptions.ConnectionError) -> bool:
    """True when the request cannot have reached the gateway (so sending it again is safe)."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    text = repr(error)
    return "NewConnectionError" in text or "Connection refused" in text or "NameResolution" in text


def _call(what: str, call: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    timeout = settings.RAZORPAY_TIMEOUT
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return call(*args, timeout=timeout)
        except requests.exceptions.ConnectionError as error:
            if _never_sent(error) and attempt < CONNECT_ATTEMPTS:
                log.warning("razorpay %s: no connection (attempt %s): %s", what, attempt, error)
                time.sleep(CONNECT_BACKOFF_SECONDS * attempt)
                continue
            raise GatewayUnavailable(
                "The payment gateway could not be reached. Nothing was charged; try again shortly."
            ) from error
        except requests.exceptions.Timeout as error:
            raise GatewayUnavailable(
                "The payment gateway did not answer in time. Refresh in a minute to see whether "
                "it went through."
            ) from error
        except BadRequestError as error:
            raise GatewayRejected(f"The payment gateway refused: {error}") from error
        except (GatewayError, ServerError) as error:
            raise GatewayUnavailable(f"The payment gateway failed: {error}") from error
        except ValueError as error:  # a body that is not JSON: a proxy's error page, say
            raise GatewayUnavailable(
                "The payment gateway gave an answer we cannot read."
            ) from error
    raise AssertionError("unreachable")


def create_order(*, amount: Decimal, currency: str, receipt: str, notes: dict[str, str]) -> Order:
    body = {
        "amount": to_paise(amount),
        "currency": currency,
        "receipt": receipt[:40],
        "notes": notes,
        "payment_capture": 1,
    }
    return Order.from_entity(_call("create order", client().order.create, body))


def fetch_order(order_id: str) -> Order:
    return Order.from_entity(_call("fetch order", client().order.fetch, order_id))


def order_payments(order_id: str) -> list[Payment]:
    collection = _call("order payments", client().order.payments, order_id)
    return [Payment.from_entity(item) for item in collection.get("items", [])]


def fetch_payment(payment_id: str) -> Payment:
    return Payment.from_entity(_call("fetch payment", client().payment.fetch, payment_id))


def refund(*, payment_id: str, amount: Decimal, notes: dict[str, str], receipt: str) -> Refund:
    body = {"amount": to_paise(amount), "notes": notes, "receipt": receipt[:40], "speed": "normal"}
    return Refund.from_entity(_call("refund", client().payment.refund, payment_id, body))


def payment_refunds(payment_id: str) -> list[Refund]:
    collection = _call("payment refunds", client().payment.fetch_multiple_refund, payment_id)
    return [Refund.from_entity(item) for item in collection.get("items", [])]


def fetch_refund(refund_id: str) -> Refund:
    return Refund.from_entity(_call("fetch refund", client().refund.fetch, refund_id))


def verify_payment_signature(*, order_id: str, payment_id: str, signature: str) -> bool:
    """The checkout's signature over *our* order id and the payment id it names."""
    if not (order_id and payment_id and signature):
        return False
    try:
        return bool(
            client().utility.verify_payment_signature(
                {
                    "razorpay_order_id": order_id,
                    "razorpay_payment_id": payment_id,
                    "razorpay_signature": signature,
                }
            )
        )
    except SignatureVerificationError:
        return False


def verify_webhook_signature(*, body: bytes, signature: str | None) -> bool:
    """The webhook's signature over the raw body, with the webhook secret (not the key secret).

    While the secret is being rotated (docs/operations.md), RAZORPAY_WEBHOOK_SECRET_PREVIOUS is
    accepted too: Razorpay signs with the new secret from the moment it is saved in its
    dashboard, and deliveries already under way or retried were signed with the old one."""
    secrets = [
        secret
        for secret in (settings.RAZORPAY_WEBHOOK_SECRET, settings.RAZORPAY_WEBHOOK_SECRET_PREVIOUS)
        if secret
    ]
    if not signature or not secrets:
        return False
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    for secret in secrets:
        try:
            if client().utility.verify_webhook_signature(text, signature, secret):
                return True
        except SignatureVerificationError:
            continue
    return False
