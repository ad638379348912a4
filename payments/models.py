from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from billing_portal.lib.fields import amount_field
from invoices.models import Invoice
from tenants.models import Tenant


class Payment(models.Model):
    """Money received against an invoice: through Razorpay or recorded by staff."""

    class Method(models.TextChoices):
        RAZORPAY = "razorpay", "Razorpay"
        NEFT = "neft", "Bank transfer (NEFT)"
        RTGS = "rtgs", "Bank transfer (RTGS)"
        IMPS = "imps", "Bank transfer (IMPS)"
        UPI = "upi", "UPI (outside the gateway)"
        CHEQUE = "cheque", "Cheque"
        CASH = "cash", "Cash"

    class Status(models.TextChoices):
        CREATED = "created", "Created"
        PROCESSING = "processing", "Processing"
        CAPTURED = "captured", "Captured"
        FAILED = "failed", "Failed"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="payments")
    amount = amount_field(default=None)  # rupees
    amount_refunded = amount_field()
    currency = models.CharField(max_length=3, default="INR")
    method = models.CharField(max_length=10, choices=Method.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    reference = models.CharField(
        max_length=100, blank=True, help_text="UTR, cheque number or gateway payment id."
    )
    received_on = models.DateField(null=True, blank=True)
    # A Razorpay payment is one order: Pay Now creates both. The payer may try several times
    # inside the checkout; the payment id kept is the one that was captured (or the last failure).
    gateway_order_id = models.CharField(max_length=40, null=True, blank=True, unique=True)
    gateway_payment_id = models.CharField(max_length=40, null=True, blank=True, unique=True)
    gateway_method = models.CharField(
        max_length=20, blank=True, help_text="upi, card, netbanking or wallet, as Razorpay says."
    )
    failure_reason = models.CharField(max_length=300, blank=True)
    # Set when the money reached the invoice; the one guard against applying a payment twice.
    applied_at = models.DateTimeField(null=True, blank=True)
    # A captured payment the gateway reports with another amount or currency than the order, or
    # one the invoice can no longer take: kept for a person to decide, never applied silently.
    review_reason = models.CharField(max_length=300, blank=True)
    note = models.CharField(max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    captured_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0) & Q(amount_refunded__lte=F("amount")),
                name="payment_refund_within_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["invoice", "status"], name="payment_invoice_status"),
            models.Index(fields=["status", "created_at"], name="payment_status_created"),
            models.Index(fields=["tenant", "created_at"], name="payment_tenant_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} {self.amount} on {self.invoice}"

    @property
    def refundable(self) -> Decimal:
        """What may still be refunded: refunds waiting on the gateway count as spent."""
        pending = sum(
            (r.amount for r in self.refunds.all() if r.status == Refund.Status.PENDING),
            Decimal(0),
        )
        return self.amount - self.amount_refunded - pending

    @property
    def needs_review(self) -> bool:
        return bool(self.review_reason)


class Refund(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="refunds")
    amount = amount_field(default=None)  # rupees
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=300)
    reference = models.CharField(max_length=100, blank=True)
    gateway_refund_id = models.CharField(max_length=40, null=True, blank=True, unique=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"Refund {self.amount} of {self.payment}"


class WebhookEvent(models.Model):
    """A Razorpay webhook as received: stored before it is handled, once per event id."""

    event_id = models.CharField(max_length=60, unique=True)
    event = models.CharField(max_length=40)
    # The gateway ids the event is about, for finding its events from a payment.
    gateway_payment_id = models.CharField(max_length=40, blank=True, db_index=True)
    gateway_order_id = models.CharField(max_length=40, blank=True, db_index=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    deliveries = models.PositiveIntegerField(default=1)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["processed_at", "received_at"], name="webhook_unprocessed")]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id}"
