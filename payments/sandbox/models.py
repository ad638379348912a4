"""What the sandbox remembers of the payments it stood in for, as Razorpay would.

Amounts are whole paise (Razorpay's unit), ids are Razorpay's (``order_`` + 14 base62 characters),
and the product side never reads these tables: it sees them only through the API, the callback
and the webhooks, exactly as it sees Razorpay.
"""

import secrets
import string
from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def razorpay_id(prefix: str) -> str:
    """``pay_`` + 14 base62 characters, the shape of Razorpay's ids."""
    return prefix + "".join(secrets.choice(BASE62) for _ in range(14))


def new_order_id() -> str:
    return razorpay_id("order_")


def new_payment_id() -> str:
    return razorpay_id("pay_")


def new_refund_id() -> str:
    return razorpay_id("rfnd_")


def new_event_id() -> str:
    return razorpay_id("evt_")


class SandboxOrder(models.Model):
    class Status(models.TextChoices):
        CREATED = "created", "Created"
        ATTEMPTED = "attempted", "Attempted"
        PAID = "paid", "Paid"

    id = models.CharField(primary_key=True, max_length=20, default=new_order_id, editable=False)
    amount = models.PositiveBigIntegerField()  # paise
    amount_paid = models.PositiveBigIntegerField(default=0)  # paise
    currency = models.CharField(max_length=3, default="INR")
    receipt = models.CharField(max_length=40, blank=True)
    notes = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    attempts = models.PositiveIntegerField(default=0)
    # Razorpay's payment_capture: captured at once when the payer pays, or left authorized for
    # the merchant's capture call.
    auto_capture = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=100), name="sandbox_order_min_amount"),
            models.CheckConstraint(
                condition=Q(amount_paid__lte=F("amount")), name="sandbox_order_paid_within_amount"
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def amount_due(self) -> int:  # paise
        return self.amount - self.amount_paid

    @property
    def amount_paid_rupees(self) -> Decimal:
        return Decimal(self.amount_paid) / 100

    @property
    def amount_rupees(self) -> Decimal:
        return Decimal(self.amount) / 100


class SandboxPayment(models.Model):
    """A payment attempt. Text fields Razorpay reports as null when they do not apply (vpa, bank,
    error_code ...) are stored blank and answered as null."""

    class Status(models.TextChoices):
        CREATED = "created", "Created"
        AUTHORIZED = "authorized", "Authorized"
        CAPTURED = "captured", "Captured"
        REFUNDED = "refunded", "Refunded"
        FAILED = "failed", "Failed"

    class Method(models.TextChoices):
        UPI = "upi", "UPI"
        CARD = "card", "Card"
        NETBANKING = "netbanking", "Netbanking"
        WALLET = "wallet", "Wallet"

    class RefundStatus(models.TextChoices):
        PARTIAL = "partial", "Partial"
        FULL = "full", "Full"

    id = models.CharField(primary_key=True, max_length=20, default=new_payment_id, editable=False)
    order = models.ForeignKey(SandboxOrder, on_delete=models.CASCADE, related_name="payments")
    amount = models.PositiveBigIntegerField()  # paise
    currency = models.CharField(max_length=3, default="INR")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    method = models.CharField(max_length=10, choices=Method.choices)
    captured = models.BooleanField(default=False)
    amount_refunded = models.PositiveBigIntegerField(default=0)  # paise, processed refunds only
    refund_status = models.CharField(max_length=7, choices=RefundStatus.choices, blank=True)
    description = models.CharField(max_length=255, blank=True)
    email = models.CharField(max_length=254, blank=True)
    contact = models.CharField(max_length=20, blank=True)
    vpa = models.CharField(max_length=100, blank=True)
    bank = models.CharField(max_length=10, blank=True)
    wallet = models.CharField(max_length=20, blank=True)
    # Only what a PCI-scoped gateway may show back: never the full number, never the CVV.
    card_id = models.CharField(max_length=19, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_network = models.CharField(max_length=20, blank=True)
    card_type = models.CharField(max_length=10, blank=True)
    card_name = models.CharField(max_length=100, blank=True)
    acquirer_data = models.JSONField(default=dict, blank=True)
    notes = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_description = models.CharField(max_length=255, blank=True)
    error_source = models.CharField(max_length=40, blank=True)
    error_step = models.CharField(max_length=40, blank=True)
    error_reason = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    captured_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_refunded__lte=F("amount")),
                name="sandbox_payment_refund_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def amount_rupees(self) -> Decimal:
        return Decimal(self.amount) / 100

    @property
    def amount_refunded_rupees(self) -> Decimal:
        return Decimal(self.amount_refunded) / 100


class SandboxRefund(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"

    id = models.CharField(primary_key=True, max_length=20, default=new_refund_id, editable=False)
    payment = models.ForeignKey(SandboxPayment, on_delete=models.CASCADE, related_name="refunds")
    amount = models.PositiveBigIntegerField()  # paise
    currency = models.CharField(max_length=3, default="INR")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    notes = models.JSONField(default=dict, blank=True)
    receipt = models.CharField(max_length=40, blank=True)
    speed_requested = models.CharField(max_length=10, default="normal")
    arn = models.CharField(max_length=30, blank=True)  # the bank's reference
    created_at = models.DateTimeField(default=timezone.now)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="sandbox_refund_positive"),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def amount_rupees(self) -> Decimal:
        return Decimal(self.amount) / 100


class SandboxWebhookEvent(models.Model):
    """One event as Razorpay would send it: the body is kept byte for byte, so a redelivery
    carries the same body, signature and event id as the first delivery."""

    id = models.CharField(primary_key=True, max_length=20, default=new_event_id, editable=False)
    event = models.CharField(max_length=40)
    body = models.TextField()  # the exact JSON that is signed and sent
    # The payment or refund it is about, for the console.
    entity_id = models.CharField(max_length=20, blank=True)
    deliveries = models.PositiveIntegerField(default=0)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)  # HTTP status
    last_error = models.CharField(max_length=300, blank=True)
    last_delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.id} {self.event}"

    @property
    def delivered_ok(self) -> bool:
        return self.last_status is not None and 200 <= self.last_status < 300
