from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from billing_portal.lib.fields import amount_field, precise_field
from billing_portal.lib.tax import DEFAULT_GST_RATE, DEFAULT_SAC
from invoices.models import Invoice, InvoiceLine
from tenants.models import Tenant


class Meter(models.Model):
    """What is measured: a unit, a category and the SAC code its invoice lines carry."""

    class Category(models.TextChoices):
        COMPUTE = "compute", "Compute"
        STORAGE = "storage", "Storage"
        NETWORK = "network", "Network"
        GPU = "gpu", "GPU"

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    unit = models.CharField(max_length=30)
    category = models.CharField(max_length=10, choices=Category.choices)
    sac_code = models.CharField("SAC", max_length=8, default=DEFAULT_SAC)
    # The dimension that splits this meter's lines and prices (e.g. "gpu_type"), or "".
    dimension = models.SlugField(max_length=40, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["category", "code"]

    def __str__(self) -> str:
        return self.name


class UsageRecord(models.Model):
    """One measurement of one resource over a window; the same key sent twice is stored once."""

    class Source(models.TextChoices):
        API = "api", "HTTP API"
        IMPORT = "import", "Bulk import"
        DEMO = "demo", "Demo data"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="usage_records")
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="records")
    # The tenant's billing cursor, joined on the tenant's id (no column of its own): the monthly
    # run reads it beside each record without joining the tenants on the way.
    usage_cursor = models.ForeignObject(
        "UsageCursor",
        on_delete=models.DO_NOTHING,
        from_fields=["tenant"],
        to_fields=["tenant"],
        related_name="+",
        null=True,
        serialize=False,  # no column of its own: nothing to dump or load
    )
    resource_id = models.CharField(max_length=120)
    resource_name = models.CharField(max_length=200, blank=True)
    region = models.CharField(max_length=40, blank=True)
    # The meter's dimension value (e.g. "A100"), split out of ``dimensions`` for grouping.
    dimension_value = models.CharField(max_length=60, blank=True)
    dimensions = models.JSONField(default=dict, blank=True)
    quantity = precise_field()  # in the meter's unit
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    idempotency_key = models.CharField(max_length=200)
    source = models.CharField(max_length=6, choices=Source.choices, default=Source.API)
    received_at = models.DateTimeField(auto_now_add=True)
    # Which invoice line billed a record is not stored on the record (writing every billed record
    # costs the monthly run far more than its aggregate): an invoice's UsageRange rows name the
    # records it billed. See invoices.generation.line_records and billed_line.

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"], name="usage_key_unique_per_tenant"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=0), name="usage_quantity_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(window_end__gte=F("window_start")), name="usage_window_ordered"
            ),
        ]
        indexes = [
            # A line's records (UsageRange), the dashboard, one tenant's run.
            models.Index(fields=["tenant", "meter", "window_start"], name="usage_tenant_meter"),
            # A tenant's records received since its last run (ids only grow).
            models.Index(fields=["tenant", "id"], name="usage_tenant_id"),
        ]

    def __str__(self) -> str:
        return f"{self.meter.code} {self.quantity} for {self.resource_id}"


class IngestToken(models.Model):
    """A bearer token for one source of usage records; only its SHA-256 is kept."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)  # shown to admins to tell tokens apart
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Pricing(models.Model):
    """How a meter is priced: per unit, graduated tiers or volume tiers, after a free allowance.

    ``tiers`` is a list of {"up_to": "1000" or null, "unit_price": "1.20"}: graduated prices each
    unit at the price of the tier it falls in; volume prices every unit at the tier the total
    reaches. Prices are rupees per unit.
    """

    class Model(models.TextChoices):
        PER_UNIT = "per_unit", "Per unit"
        GRADUATED = "graduated", "Graduated tiers"
        VOLUME = "volume", "Volume tiers"

    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="+")
    dimension_value = models.CharField(max_length=60, blank=True)  # "" prices every value
    model = models.CharField(max_length=10, choices=Model.choices, default=Model.PER_UNIT)
    unit_price = precise_field(default=Decimal("0"))
    tiers = models.JSONField(default=list, blank=True)
    included_quantity = precise_field(default=Decimal("0"))

    class Meta:
        abstract = True


class Plan(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    currency = models.CharField(max_length=3, default="INR")
    monthly_fee = amount_field()  # rupees per month, prorated by day
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=DEFAULT_GST_RATE)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PlanPrice(Pricing):
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="prices")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "meter", "dimension_value"], name="plan_price_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.plan}: {self.meter}"


class PriceOverride(Pricing):
    """A tenant's own price for a meter, in place of its plan's."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="price_overrides")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "meter", "dimension_value"], name="price_override_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant}: {self.meter}"


class Subscription(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)  # the last day billed; null: ongoing
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=F("starts_on")),
                name="subscription_dates_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant} on {self.plan} from {self.starts_on}"


class OneTimeCharge(models.Model):
    """Hardware, installation, add-ons: billed on the tenant's next invoice."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="one_time_charges")
    description = models.CharField(max_length=300)
    sac_code = models.CharField("SAC/HSN", max_length=8, default=DEFAULT_SAC)
    quantity = precise_field(default=Decimal("1"))
    unit = models.CharField(max_length=30, default="unit")
    unit_price = precise_field()  # rupees per unit
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=DEFAULT_GST_RATE)
    invoice_line = models.OneToOneField(
        InvoiceLine, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.description


class UsageImport(models.Model):
    """A file of usage records uploaded by a billing admin and imported by a Celery job.

    The counters are written in the same transaction as each chunk of records, so they always
    describe exactly what is stored, and a resumed job carries on from them.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON lines"

    file = models.FileField(upload_to="imports/", max_length=300)
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=5, choices=Format.choices)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=7, choices=Status.choices, default=Status.QUEUED)
    # Bumped by every claim: a job whose attempt is no longer current stops at its next chunk.
    attempts = models.PositiveIntegerField(default=0)
    rows_read = models.PositiveBigIntegerField(default=0)  # records, not counting the header
    accepted = models.PositiveBigIntegerField(default=0)
    duplicates = models.PositiveBigIntegerField(default=0)
    rejected = models.PositiveBigIntegerField(default=0)
    bytes_total = models.PositiveBigIntegerField(default=0)  # size of the file as uploaded
    bytes_read = models.PositiveBigIntegerField(default=0)
    rejects_file = models.FileField(upload_to="imports/rejects/", max_length=300, blank=True)
    # The rejects file's size at the last committed chunk: a resumed job cuts it back to this.
    rejects_bytes = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True)  # the last claim or chunk
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Import {self.pk} of {self.original_name}"


class UsageRange(models.Model):
    """Records an invoice billed: the tenant's records with a window starting in [window_from,
    window_to) and an id in (after_id, upto_id], of every meter, or of one meter and dimension
    value when ``meter`` is set. The invoice's usage line of a record's meter, dimension value and
    month is the line that billed it (``invoices.generation.billed_line``; ``line_records`` goes
    the other way).

    Record ids only grow, and the monthly run reads them up to a watermark taken while no insert
    is in flight (``generation.usage_watermark``), so a range names a fixed set of records. An
    invoice usually has one range per month of usage, of every meter; usage released by a voided
    invoice, or left unbilled for want of a price, makes the run name each meter's records
    instead.
    """

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="usage_ranges")
    # The tenant and meter of the records, to find them: the tenant is the invoice's own, kept
    # here for the index, not as a constraint of its own (Django still cascades a tenant's
    # deletion and protects a meter in use).
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    # None: every meter (and dimension value).
    meter = models.ForeignKey(
        Meter,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    dimension_value = models.CharField(max_length=60, blank=True)
    window_from = models.DateTimeField()
    window_to = models.DateTimeField()
    after_id = models.BigIntegerField()  # exclusive
    upto_id = models.BigIntegerField()  # inclusive

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(upto_id__gt=F("after_id")) & Q(window_to__gt=F("window_from")),
                name="usage_range_not_empty",
            ),
            models.CheckConstraint(
                condition=Q(meter__isnull=False) | Q(dimension_value=""),
                name="usage_range_every_meter_every_dimension",
            ),
        ]
        indexes = [
            # The ranges that may hold a tenant's record: those reaching its id.
            models.Index(fields=["tenant", "upto_id"], name="usage_range_tenant_upto")
        ]

    def __str__(self) -> str:
        return f"invoice {self.invoice_id}: records ({self.after_id}, {self.upto_id}]"


class UsageCursor(models.Model):
    """How far a tenant's usage is billed: every priced record with an id up to ``upto_id`` and a
    window starting before ``billed_before`` is on a live invoice line.

    The monthly run reads only what lies beyond it (records that arrived since, and records of the
    months since), and moves it forward; voiding an invoice moves it back to the first record it
    released. Its row is also the lock that keeps two runs from billing one tenant at once.
    """

    tenant = models.OneToOneField(
        Tenant, primary_key=True, on_delete=models.CASCADE, related_name="usage_cursor"
    )
    upto_id = models.BigIntegerField(default=0)
    billed_before = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.tenant_id}: records up to {self.upto_id} before {self.billed_before}"


class UsageRun(models.Model):
    """One monthly run's snapshot of unbilled usage: its watermark and its aggregate, computed
    once by one GROUP BY over the records and then turned into drafts chunk by chunk."""

    period_start = models.DateField()
    period_end = models.DateField()
    upto_id = models.BigIntegerField()  # the watermark: records with a larger id wait
    cutoff = models.DateTimeField()  # one-time charges created after it wait
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"run {self.pk} for {self.period_start:%Y-%m} up to record {self.upto_id}"


class UsageRunGroup(models.Model):
    """A row of a run's aggregate: one tenant's unbilled records of one meter, dimension value and
    month, with the tenant's cursor as the aggregate saw it."""

    # Written by the tens of thousands in one COPY and read back by their run alone: no
    # constraint for the database to check row by row at commit (Django still cascades).
    run = models.ForeignKey(
        UsageRun,
        on_delete=models.CASCADE,
        related_name="groups",
        db_constraint=False,
        db_index=False,  # the index below begins with it
    )
    tenant_id = models.BigIntegerField()
    meter_id = models.BigIntegerField()
    dimension_value = models.CharField(max_length=60, blank=True)
    # A month before the run's period: its first instant, India's time. None: the period's own
    # month (nearly every group; a chunk reads thousands, and None costs nothing to read).
    month = models.DateTimeField(null=True)
    quantity = precise_field()  # in the meter's unit
    records = models.PositiveIntegerField()
    cursor_upto_id = models.BigIntegerField(null=True)  # null: the tenant had no cursor
    cursor_billed_before = models.DateTimeField(null=True)

    class Meta:
        indexes = [models.Index(fields=["run", "tenant_id"], name="usage_run_group_tenant")]

    def __str__(self) -> str:
        return f"run {self.run_id}, tenant {self.tenant_id}: {self.records} records"
