from django.conf import settings
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower

from billing_portal.lib.gst import STATE_CHOICES, state_name
from tenants.validators import validate_gstin, validate_ifsc, validate_pan, validate_pin_code

phone_validator = RegexValidator(
    r"^\+?[0-9][0-9 -]{6,18}[0-9]$", "Enter a phone number of digits, spaces or dashes."
)


class Address(models.Model):
    """A postal address in India; the state is the GST place of supply."""

    address_line1 = models.CharField("address line 1", max_length=200)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=2, choices=STATE_CHOICES)
    pin_code = models.CharField("PIN code", max_length=6, validators=[validate_pin_code])

    class Meta:
        abstract = True

    @property
    def state_name(self) -> str:
        return state_name(self.state)

    @property
    def address_lines(self) -> list[str]:
        lines = [self.address_line1, self.address_line2, f"{self.city} {self.pin_code}"]
        return [line for line in lines if line.strip()]


class Tenant(Address):
    """A customer organisation and the billing profile its invoices are addressed to."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    class Currency(models.TextChoices):
        INR = "INR", "Indian rupee (₹)"

    display_name = models.CharField(max_length=120)
    legal_name = models.CharField(max_length=200)
    gstin = models.CharField(
        "GSTIN",
        max_length=15,
        blank=True,
        validators=[validate_gstin],
        help_text="Leave empty for a customer not registered for GST.",
    )
    billing_email = models.EmailField()
    finance_email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True, validators=[phone_validator])
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.INR)
    payment_terms_days = models.PositiveSmallIntegerField(
        default=15, validators=[MaxValueValidator(180)], help_text="Days from issue to due date."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.CharField(max_length=300, blank=True)
    # Suspended by the daily sweep (not by a person): paying what is overdue lifts it.
    auto_suspended = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("display_name"),
                name="tenant_display_name_unique_ci",
                violation_error_message="Another tenant already has this display name.",
            ),
            # A GSTIN identifies one registration: two tenants cannot share it.
            models.UniqueConstraint(
                fields=["gstin"],
                condition=~models.Q(gstin=""),
                name="tenant_gstin_unique",
                violation_error_message="Another tenant is already registered with this GSTIN.",
            ),
            # The GSTIN's first two digits are its state: the place of supply must agree.
            models.CheckConstraint(
                condition=models.Q(gstin="") | models.Q(gstin__startswith=models.F("state")),
                name="tenant_gstin_matches_state",
                violation_error_message="The GSTIN must begin with the code of the state chosen.",
            ),
        ]
        permissions = [
            ("manage_members", "Can add and remove members of a tenant"),
            ("suspend_tenant", "Can suspend and reactivate a tenant"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_registered(self) -> bool:
        return bool(self.gstin)

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Membership(models.Model):
    """A person's role in a customer organisation."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant__display_name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="membership_user_tenant_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} ({self.get_role_display()})"


class ProviderProfile(Address):
    """The cloud provider's own details, printed on every tax invoice. One row (pk=1)."""

    legal_name = models.CharField(max_length=200)
    trade_name = models.CharField(max_length=120, blank=True)
    gstin = models.CharField("GSTIN", max_length=15, validators=[validate_gstin])
    pan = models.CharField("PAN", max_length=10, validators=[validate_pan])
    email = models.EmailField()
    phone = models.CharField(max_length=20, blank=True, validators=[phone_validator])
    website = models.URLField(blank=True)
    bank_account_name = models.CharField(max_length=200, blank=True)
    bank_name = models.CharField(max_length=120, blank=True)
    bank_account_number = models.CharField(
        max_length=18,
        blank=True,
        validators=[RegexValidator(r"^[0-9]{9,18}$", "An account number is 9 to 18 digits.")],
    )
    bank_ifsc = models.CharField("IFSC", max_length=11, blank=True, validators=[validate_ifsc])
    bank_branch = models.CharField(max_length=120, blank=True)
    # Invoice numbers read PREFIX/FYFY/NNNNN (e.g. CRS/2627/00042): with a prefix of at most five
    # characters they stay within the 16 characters GST allows (CGST Rule 46(b)).
    invoice_number_prefix = models.CharField(
        max_length=5,
        validators=[
            RegexValidator(r"^[A-Z0-9]{1,5}$", "Use one to five capital letters or digits.")
        ],
    )
    # Monthly drafts are finalized after the grace period; with this on, they are also approved
    # and sent by the system instead of waiting for a billing admin.
    auto_approve = models.BooleanField(
        "Approve and send monthly invoices automatically", default=False
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="provider_profile_singleton"),
            models.CheckConstraint(
                condition=models.Q(gstin__startswith=models.F("state")),
                name="provider_gstin_matches_state",
                violation_error_message="The GSTIN must begin with the code of the state chosen.",
            ),
        ]

    def __str__(self) -> str:
        return self.legal_name
