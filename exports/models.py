from django.conf import settings
from django.db import models

from tenants.models import Tenant


class ExportJob(models.Model):
    """An export too large to answer inline, written by a Celery job to default storage.

    Only its requester and staff who may export open it; the file is removed after
    EXPORT_KEEP_DAYS and the row stays as a record of who exported what.
    """

    class Kind(models.TextChoices):
        INVOICES = "invoices", "Invoices"
        INVOICE_LINES = "lines", "Invoice lines"
        INVOICE_PDFS = "invoice_pdfs", "Invoice PDFs (ZIP)"
        PAYMENTS = "payments", "Payments"
        REFUNDS = "refunds", "Refunds"
        USAGE_RECORDS = "usage", "Usage records"
        USAGE_BREAKDOWN = "usage_months", "Usage breakdown"  # per tenant, month and meter

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"
        PDF = "pdf", "PDF"
        ZIP = "zip", "ZIP"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_jobs"
    )
    # A customer's export is held to their organisation; None: staff, every tenant.
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="export_jobs"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    format = models.CharField(max_length=4, choices=Format.choices)
    # The list's URL parameters as {name: [values]} (or {"ids": [...]} for a ZIP of PDFs).
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=7, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    row_count = models.PositiveIntegerField(default=0)  # rows (or PDFs) expected when queued
    progress = models.PositiveIntegerField(default=0)  # rows (or PDFs) written so far
    file = models.FileField(upload_to="exports/", max_length=300, blank=True)
    filename = models.CharField(max_length=150, blank=True)  # offered to the browser
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True)  # the claim or the last progress
    finished_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["requester", "-created_at"], name="export_requester_created"),
            models.Index(fields=["status", "finished_at"], name="export_status_finished"),
        ]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.get_kind_display()}, {self.format})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.EXPIRED)

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.row_count:
            return 0
        return min(99, int(100 * self.progress / self.row_count))
