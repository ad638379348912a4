"""Razorpay's REST API for orders, payments and refunds, answered by the sandbox.

The same paths under ``/sandbox/razorpay/v1/`` as under ``https://api.razorpay.com/v1/``, HTTP
Basic auth with the key id and secret, JSON bodies (what the SDK sends) or form fields (what curl
sends), and Razorpay's error JSON: code BAD_REQUEST_ERROR with status 400, so the SDK raises
``BadRequestError``; 401 for bad keys; 404 for an id that does not exist.
"""

import base64
import binascii
import hmac
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db.models import Model
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from payments.sandbox import entities, services
from payments.sandbox.after_response import after_response
from payments.sandbox.models import SandboxOrder, SandboxPayment, SandboxRefund
from payments.sandbox.services import SandboxError, not_found

Json = dict[str, Any]
ApiView = Callable[..., Json]

MAX_NOTES = 15
MAX_NOTE_LENGTH = 256
MAX_AMOUNT = 10**11  # paise: ₹100 crore, far above anything a tenant is billed


def _error(status: int, description: str, **extra: Any) -> JsonResponse:
    return JsonResponse(SandboxError(description, status=status, **extra).as_json(), status=status)


def _authenticated(request: HttpRequest) -> str | None:
    """None when the Basic credentials are the account's keys; else why not."""
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return "Please provide your api key for authentication purposes."
    try:
        key_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "Authentication failed"
    id_ok = hmac.compare_digest(key_id.encode(), settings.RAZORPAY_KEY_ID.encode())
    secret_ok = hmac.compare_digest(secret.encode(), settings.RAZORPAY_KEY_SECRET.encode())
    return None if id_ok and secret_ok else "Authentication failed"


def api(*methods: str) -> Callable[[ApiView], Callable[..., JsonResponse]]:
    """An API endpoint: keys checked, method checked, a returned dict answered as JSON and a
    SandboxError as Razorpay's error JSON. Exempt from CSRF: callers are servers with keys."""

    def decorate(view: ApiView) -> Callable[..., JsonResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            problem = _authenticated(request)
            if problem:
                return _error(401, problem)
            if request.method not in methods:
                return _error(405, "The requested URL was not found on the server.")
            try:
                return JsonResponse(view(request, *args, **kwargs))
            except SandboxError as refusal:
                return JsonResponse(refusal.as_json(), status=refusal.status)

        return csrf_exempt(after_response(wrapped))

    return decorate


# --- Reading a request ---------------------------------------------------------------------------
def _body(request: HttpRequest) -> Json:
    """The JSON object the SDK posts, or form fields (``notes[key]=value`` as Razorpay takes)."""
    if not request.body:
        return {}
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise SandboxError("The request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise SandboxError("The request body must be a JSON object")
        return data
    form: Json = {}
    for key, value in request.POST.items():
        if key.startswith("notes[") and key.endswith("]"):
            form.setdefault("notes", {})[key[6:-1]] = value
        else:
            form[key] = value
    return form


def _only(data: Json, allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise SandboxError(f"{', '.join(extra)} is/are not required and should not be sent")


def _amount(data: Json) -> int | None:
    value = data.get("amount")
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SandboxError("The amount must be an integer.", field="amount")
    if value < services.MIN_AMOUNT:
        raise SandboxError("The amount must be atleast INR 1.00", field="amount")
    if value > MAX_AMOUNT:
        raise SandboxError(f"The amount may not be greater than {MAX_AMOUNT}.", field="amount")
    return value


def _currency(data: Json) -> str | None:
    value = data.get("currency")
    if value is None:
        return None
    if value != "INR":
        raise SandboxError(
            "Currency is not supported: the sandbox accepts INR only", field="currency"
        )
    return value


def _receipt(data: Json) -> str | None:
    value = data.get("receipt")
    if value is None:
        return None
    if not isinstance(value, str):
        raise SandboxError("The receipt must be a string.", field="receipt")
    if len(value) > 40:
        raise SandboxError("The receipt may not be greater than 40 characters.", field="receipt")
    return value


def _notes(data: Json) -> dict[str, str]:
    value = data.get("notes")
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise SandboxError("The notes must be an array.", field="notes")
    if len(value) > MAX_NOTES:
        raise SandboxError(
            f"Number of fields in notes should be less than or equal to {MAX_NOTES}",
            field="notes",
        )
    notes = {}
    for key, note in value.items():
        if not isinstance(note, str | int | float) or isinstance(note, bool):
            raise SandboxError("Notes values must be strings or numbers.", field="notes")
        text = str(note)
        if len(text) > MAX_NOTE_LENGTH:
            raise SandboxError(
                f"The notes value may not be greater than {MAX_NOTE_LENGTH} characters.",
                field="notes",
            )
        notes[str(key)] = text
    return notes


def _flag(data: Json, name: str, *, default: bool) -> bool:
    value = data.get(name)
    if value is None:
        return default
    if value in (True, 1, "1", "true"):
        return True
    if value in (False, 0, "0", "false"):
        return False
    raise SandboxError(f"The {name.replace('_', ' ')} field must be true or false.", field=name)


def _required[T](value: T | None, name: str) -> T:
    if value is None:
        raise SandboxError(f"The {name} field is required.", field=name)
    return value


def _page(request: HttpRequest) -> tuple[int, int]:
    """Razorpay's ``count`` (1-100, default 10) and ``skip`` for collections."""
    try:
        count = int(request.GET.get("count", 10))
        skip = int(request.GET.get("skip", 0))
    except ValueError:
        raise SandboxError("count and skip must be integers.") from None
    if not 1 <= count <= 100:
        raise SandboxError("The count must be between 1 and 100.", field="count")
    if skip < 0:
        raise SandboxError("The skip must be at least 0.", field="skip")
    return count, skip


def _get[M: Model](model: type[M], pk: str) -> M:
    found = model._default_manager.filter(pk=pk).first()
    if found is None:
        raise not_found()
    return found


# --- Orders --------------------------------------------------------------------------------------
@api("GET", "POST")
def orders(request: HttpRequest) -> Json:
    if request.method == "GET":
        count, skip = _page(request)
        rows = SandboxOrder.objects.all()[skip : skip + count]
        return entities.collection(entities.order_entity(o) for o in rows)
    data = _body(request)
    _only(data, {"amount", "currency", "receipt", "notes", "payment_capture", "partial_payment"})
    if _flag(data, "partial_payment", default=False):
        raise SandboxError(
            "Partial payments are not supported by the sandbox", field="partial_payment"
        )
    order = services.order_create(
        amount=_required(_amount(data), "amount"),
        currency=_required(_currency(data), "currency"),
        receipt=_receipt(data),
        notes=_notes(data),
        auto_capture=_flag(data, "payment_capture", default=True),
    )
    return entities.order_entity(order)


@api("GET")
def order_detail(request: HttpRequest, order_id: str) -> Json:
    return entities.order_entity(_get(SandboxOrder, order_id))


@api("GET")
def order_payments(request: HttpRequest, order_id: str) -> Json:
    order = _get(SandboxOrder, order_id)
    return entities.collection(entities.payment_entity(p) for p in order.payments.all())


# --- Payments ------------------------------------------------------------------------------------
@api("GET")
def payments(request: HttpRequest) -> Json:
    count, skip = _page(request)
    rows = SandboxPayment.objects.all()[skip : skip + count]
    return entities.collection(entities.payment_entity(p) for p in rows)


@api("GET")
def payment_detail(request: HttpRequest, payment_id: str) -> Json:
    return entities.payment_entity(_get(SandboxPayment, payment_id))


@api("POST")
def payment_capture(request: HttpRequest, payment_id: str) -> Json:
    data = _body(request)
    _only(data, {"amount", "currency"})
    payment = services.payment_capture(
        payment_id=payment_id,
        amount=_required(_amount(data), "amount"),
        currency=_currency(data),
    )
    return entities.payment_entity(payment)


@api("POST")
def payment_refund(request: HttpRequest, payment_id: str) -> Json:
    data = _body(request)
    _only(data, {"amount", "speed", "notes", "receipt"})
    speed = data.get("speed", "normal")
    if speed not in ("normal", "optimum"):
        raise SandboxError("The selected speed is invalid.", field="speed")
    refund = services.refund_create(
        payment_id=payment_id,
        amount=_amount(data),
        notes=_notes(data),
        receipt=_receipt(data),
        speed=speed,
    )
    return entities.refund_entity(refund)


@api("GET")
def payment_refunds(request: HttpRequest, payment_id: str) -> Json:
    payment = _get(SandboxPayment, payment_id)
    return entities.collection(entities.refund_entity(r) for r in payment.refunds.all())


@api("GET")
def payment_refund_detail(request: HttpRequest, payment_id: str, refund_id: str) -> Json:
    refund = SandboxRefund.objects.filter(pk=refund_id, payment_id=payment_id).first()
    if refund is None:
        raise not_found()
    return entities.refund_entity(refund)


# --- Refunds -------------------------------------------------------------------------------------
@api("GET")
def refunds(request: HttpRequest) -> Json:
    count, skip = _page(request)
    rows = SandboxRefund.objects.all()[skip : skip + count]
    return entities.collection(entities.refund_entity(r) for r in rows)


@api("GET")
def refund_detail(request: HttpRequest, refund_id: str) -> Json:
    return entities.refund_entity(_get(SandboxRefund, refund_id))


@csrf_exempt
def unknown(request: HttpRequest, rest: str) -> JsonResponse:
    """Any other path under v1/: Razorpay's answer for a URL it does not serve."""
    return _error(404, "The requested URL was not found on the server.")
