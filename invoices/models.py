from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from billing_portal.lib.fields import amount_field, precise_field
from billing_portal.lib.gst import STATE_CHOICES, state_name
from billing_portal.lib.tax import DEFAULT_GST_RATE, DEFAULT_SAC
from tenants.models import Tenant


class Invoice(models.Model):
    class Kind(models.TextChoices):
        SUBSCRIPTION = "subscription", "Subscription / usage"
        ONE_TIME = "one_time", "One-time"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        PARTIALLY_PAID = "partially_paid", "Partially paid"
        PAID = "paid", "Paid"
        OVERDUE = "overdue", "Overdue"
        VOIDED = "voided", "Voided"
        REFUNDED = "refunded", "Refunded"

    # Indexed by invoice_tenant_issued, which begins with it.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, related_name="invoices", db_index=False
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.SUBSCRIPTION)
    # Only invoices.lifecycle.invoice_transition writes this field.
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.DRAFT)
    # Assigned at finalization: PREFIX/YYYY/NNNNN, consecutive per financial year (Rule 46(b)).
    number = models.CharField(max_length=16, null=True, blank=True, unique=True)
    financial_year = models.PositiveSmallIntegerField(null=True, blank=True)  # 2026 = FY 2026-27
    sequence = models.PositiveIntegerField(null=True, blank=True)

    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    issue_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    currency = models.CharField(max_length=3, default="INR")

    # Rupees. Kept in step with the lines by invoices.services.invoice_recompute.
    subtotal = amount_field()
    discount = amount_field()
    taxable_value = amount_field()
    cgst = amount_field("CGST")
    sgst = amount_field("SGST/UTGST")
    igst = amount_field("IGST")
    tax_total = amount_field()
    round_off = amount_field()
    total = amount_field()
    amount_paid = amount_field()
    amount_refunded = amount_field()
    balance_due = amount_field()
    # The list shows these without touching the lines (1M-invoice lists stay one query).
    regular_charges = amount_field()  # plan fees (recurring lines)
    additional_charges = amount_field()  # usage, overage, one-time, adjustments
    line_count = models.PositiveIntegerField(default=0)

    place_of_supply = models.CharField(max_length=2, choices=STATE_CHOICES, blank=True)
    state_tax_name = models.CharField(max_length=5, default="SGST")  # SGST or UTGST
    # Supplier's state == place of supply: CGST + SGST/UTGST; otherwise IGST (even at 0%).
    intra_state = models.BooleanField(default=False)
    # Copies taken at finalization, so a later profile change never alters an issued invoice.
    supplier = models.JSONField(default=dict, blank=True)
    customer = models.JSONField(default=dict, blank=True)

    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finalized_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_to = models.EmailField(blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=300, blank=True)
    disputed = models.BooleanField(default=False)  # an open dispute (see Dispute)
    regenerated_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="regenerated_as"
    )

    class Meta:
        ordering = ["-issue_date", "-id"]
        constraints = [
            # One live subscription invoice per tenant and period: the monthly run can't double up.
            models.UniqueConstraint(
                fields=["tenant", "kind", "period_start"],
                condition=Q(kind="subscription") & ~Q(status="voided"),
                name="invoice_one_live_per_tenant_period",
            ),
            models.UniqueConstraint(
                fields=["financial_year", "sequence"], name="invoice_sequence_unique"
            ),
            # A draft voided before it was issued never had a number; every other one has.
            models.CheckConstraint(
                condition=Q(status__in=["draft", "voided"]) | Q(number__isnull=False),
                name="invoice_issued_has_number",
            ),
            models.CheckConstraint(
                condition=Q(amount_paid__gte=0) & Q(amount_refunded__gte=0) & Q(total__gte=0),
                name="invoice_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__lte=F("amount_paid")),
                name="invoice_refund_within_paid",
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")) | Q(period_start__isnull=True),
                name="invoice_period_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-issue_date"], name="invoice_status_issued"),
            models.Index(fields=["tenant", "-issue_date"], name="invoice_tenant_issued"),
            models.Index(fields=["-issue_date", "-id"], name="invoice_issued_id"),
            models.Index(fields=["due_date"], name="invoice_due"),
            models.Index(fields=["period_start"], name="invoice_period"),
        ]
        permissions = [
            ("approve_invoice", "Can approve invoices"),
            ("send_invoice", "Can send invoices and reminders"),
            ("void_invoice", "Can void and regenerate invoices"),
            ("record_payment", "Can record payments and refunds"),
            ("resolve_dispute", "Can resolve disputes"),
            ("export_invoice", "Can export invoices"),
        ]

    def __str__(self) -> str:
        return self.number or f"Draft #{self.pk}"

    @property
    def display_number(self) -> str:
        return self.number or f"Draft #{self.pk}"

    @property
    def place_of_supply_name(self) -> str:
        return state_name(self.place_of_supply)

    @property
    def refundable(self) -> Decimal:
        return self.amount_paid - self.amount_refunded


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        RECURRING = "recurring", "Plan fee"
        USAGE = "usage", "Usage"
        ONE_TIME = "one_time", "One-time"
        ADJUSTMENT = "adjustment", "Adjustment"

    # Indexed by line_invoice_position, which begins with it.
    invoice = models.ForeignKey(
        Invoice, on_delete=models.CASCADE, related_name="lines", db_index=False
    )
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ONE_TIME)
    description = models.CharField(max_length=300)
    resource_type = models.CharField(max_length=60, blank=True)
    resource_name = models.CharField(max_length=200, blank=True)
    sac_code = models.CharField("SAC/HSN", max_length=8, default=DEFAULT_SAC)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    quantity = precise_field(default=Decimal("1"))
    unit = models.CharField(max_length=30, default="unit")
    unit_price = precise_field(default=Decimal("0"))  # rupees per unit
    amount = amount_field()  # rupees: quantity x unit price, or as rated (tiers, proration)
    pricing_detail = models.CharField(max_length=300, blank=True)  # "1000 × ₹1.2 + 200 × ₹1"
    discount = amount_field()  # rupees: this line's share of the invoice discount
    taxable_value = amount_field()
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=DEFAULT_GST_RATE)  # %
    cgst = amount_field()
    sgst = amount_field()
    igst = amount_field()
    # A usage line's meter and dimension value (e.g. the GPU type): with its invoice's usage
    # ranges and its month (period_start), they name the records it billed. Meters are never
    # deleted (deactivated instead): no constraint for the database to check on every line a
    # monthly run writes.
    usage_meter = models.ForeignKey(
        "usage.Meter",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    usage_dimension = models.CharField(max_length=60, blank=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["invoice", "position"], name="line_invoice_position")]

    def __str__(self) -> str:
        return self.description

    @property
    def tax(self) -> Decimal:
        return self.cgst + self.sgst + self.igst


class InvoiceEvent(models.Model):
    """The append-only timeline of an invoice: nothing updates or deletes these rows."""

    class Type(models.TextChoices):
        CREATED = "created", "Created"
        EDITED = "edited", "Edited"
        FINALIZED = "finalized", "Finalized"
        APPROVED = "approved", "Approved"
        SENT = "sent", "Sent"
        REMINDER = "reminder", "Reminder sent"
        PAYMENT = "payment", "Payment recorded"
        REFUND = "refund", "Refund recorded"
        OVERDUE = "overdue", "Marked overdue"
        VOIDED = "voided", "Voided"
        REGENERATED = "regenerated", "Regenerated"
        DISPUTED = "disputed", "Dispute opened"
        DISPUTE_RESOLVED = "dispute_resolved", "Dispute resolved"
        EMAIL = "email", "Email delivered"
        PAYMENT_STARTED = "payment_started", "Payment started (Pay Now)"
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        PAYMENT_REVIEW = "payment_review", "Payment held for review"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )  # None: the system (a scheduled job or a gateway webhook)
    type = models.CharField(max_length=20, choices=Type.choices)
    from_status = models.CharField(max_length=14, blank=True)
    to_status = models.CharField(max_length=14, blank=True)
    amount = amount_field(null=True, blank=True, default=None)  # rupees
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.invoice} {self.type}"

    @property
    def actor_name(self) -> str:
        if self.actor is None:
            return "System"
        return self.actor.get_full_name() or self.actor.get_username()


class InvoiceSequence(models.Model):
    """The last number issued in a financial year; its row lock serialises finalizations."""

    financial_year = models.PositiveSmallIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"FY {self.financial_year}-{(self.financial_year + 1) % 100:02d}: {self.last_number}"


class Dispute(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="disputes")
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField(max_length=2000)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(max_length=2000, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(resolved_at__isnull=True),
                name="dispute_one_open_per_invoice",
            )
        ]

    def __str__(self) -> str:
        return f"Dispute on {self.invoice}"


class OutboundEmail(models.Model):
    """The outbox: one row per (invoice, kind, step), so a message goes out once however often
    the delivery task runs. Subject and bodies are rendered when queued and never change."""

    class Kind(models.TextChoices):
        INVOICE_SENT = "invoice_sent", "Invoice sent"
        REMINDER = "reminder", "Reminder"
        RECEIPT = "receipt", "Payment receipt"
        ADMIN_NOTICE = "admin_notice", "Notice to billing admins"
        PAYMENT_REVIEW = "payment_review", "Payment to review (to billing admins)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=14, choices=Kind.choices)
    step = models.CharField(max_length=40, blank=True)  # e.g. "manual-2", "overdue", "payment-17"
    to = models.JSONField(default=list)
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)  # after a failed attempt: backoff
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "kind", "step"], name="email_once_per_invoice_kind_step"
            )
        ]
        indexes = [models.Index(fields=["status", "queued_at"], name="email_status_queued")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.invoice}"


class IssuedPdf(models.Model):
    """The tax invoice PDF as issued, kept byte for byte: what the customer was sent and what an
    auditor compares against. Written once (invoices.pdf.issued_pdf_store), never updated."""

    invoice = models.OneToOneField(
        Invoice, on_delete=models.CASCADE, primary_key=True, related_name="issued_pdf"
    )
    # In the database, not a file store: web and worker processes on other machines share it, and
    # it commits or rolls back with everything else. About 40 KB an invoice.
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    rendered_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Issued PDF of {self.invoice_id}"
