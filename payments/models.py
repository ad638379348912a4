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
    gateway_order_id = models.CharField(max_length=40, blank=True)
    gateway_payment_id = models.CharField(max_length=40, null=True, blank=True, unique=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    note = models.CharField(max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
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
        indexes = [models.Index(fields=["invoice", "status"], name="payment_invoice_status")]

    def __str__(self) -> str:
        return f"{self.get_method_display()} {self.amount} on {self.invoice}"

    @property
    def refundable(self) -> Decimal:
        return self.amount - self.amount_refunded


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
