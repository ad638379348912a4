"""Razorpay's signatures: hex HMAC-SHA256, keyed with the key secret (checkout callbacks) or the
webhook secret (webhooks)."""

import hashlib
import hmac


def hmac_hex(secret: str, message: str | bytes) -> str:
    data = message.encode() if isinstance(message, str) else message
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def payment_signature(*, order_id: str, payment_id: str, key_secret: str) -> str:
    """What checkout posts as ``razorpay_signature``: HMAC of ``order_id|payment_id``."""
    return hmac_hex(key_secret, f"{order_id}|{payment_id}")
