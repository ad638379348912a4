"""Load the demo: the provider, tenants across states, and the demo logins (password "demo").

Idempotent: whatever exists is left as it is, so a second run changes nothing. Later capabilities
extend it (usage, invoices, payments) so that the demo always shows every feature.
"""

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from tenants.models import Membership, ProviderProfile, Tenant
from tenants.roles import BILLING_ADMIN, FINANCE

User = get_user_model()
DEMO_PASSWORD = "demo"  # noqa: S105 - the documented demo password, refused in production

PROVIDER = {
    "legal_name": "Cirrus Cloud Services Private Limited",
    "trade_name": "Cirrus Cloud",
    "gstin": "27AAHCC4821K1ZJ",
    "pan": "AAHCC4821K",
    "email": "billing@cirrus.example",
    "phone": "+91 20 6712 4400",
    "website": "https://cirrus.example",
    "address_line1": "7th Floor, Tower B, Panchshil Tech Park",
    "address_line2": "Yerawada",
    "city": "Pune",
    "state": "27",
    "pin_code": "411006",
    "bank_account_name": "Cirrus Cloud Services Private Limited",
    "bank_name": "HDFC Bank",
    "bank_account_number": "50200012345678",
    "bank_ifsc": "HDFC0000123",
    "bank_branch": "Kalyani Nagar, Pune",
    "invoice_number_prefix": "CRS",
}

# One intra-state (Maharashtra), inter-state registered ones, unregistered ones, and union
# territories (Chandigarh and Ladakh charge UTGST on their own supplies; Delhi charges SGST).
TENANTS: list[dict[str, Any]] = [
    {
        "display_name": "Acme Cloud",
        "legal_name": "Acme Cloud Solutions Private Limited",
        "gstin": "27AAACA7412M1ZN",
        "address_line1": "401, Bandra Kurla Complex",
        "city": "Mumbai",
        "state": "27",
        "pin_code": "400051",
        "billing_email": "accounts@acme.example",
        "finance_email": "finance@acme.example",
        "phone": "+91 22 4000 1234",
        "payment_terms_days": 15,
    },
    {
        "display_name": "Acme Retail",
        "legal_name": "Acme Retail India LLP",
        "gstin": "30AAKFA2231B1ZG",
        "address_line1": "12 Rua de Ourem",
        "address_line2": "Fontainhas",
        "city": "Panaji",
        "state": "30",
        "pin_code": "403001",
        "billing_email": "retail-accounts@acme.example",
        "payment_terms_days": 30,
    },
    {
        "display_name": "Globex Analytics",
        "legal_name": "Globex Analytics LLP",
        "gstin": "29AAGFG5678H1ZW",
        "address_line1": "Embassy Golf Links, Block C",
        "address_line2": "Domlur",
        "city": "Bengaluru",
        "state": "29",
        "pin_code": "560071",
        "billing_email": "ap@globex.example",
        "finance_email": "controller@globex.example",
        "payment_terms_days": 30,
    },
    {
        "display_name": "Initech Labs",
        "legal_name": "Initech Labs (Proprietor: R. Iyer)",
        "gstin": "",
        "address_line1": "22 Nungambakkam High Road",
        "city": "Chennai",
        "state": "33",
        "pin_code": "600034",
        "billing_email": "billing@initech.example",
        "payment_terms_days": 7,
    },
    {
        "display_name": "Umbrella Biotech",
        "legal_name": "Umbrella Biotech Private Limited",
        "gstin": "04AAECU3321P1Z9",
        "address_line1": "Plot 14, Industrial Area Phase II",
        "city": "Chandigarh",
        "state": "04",
        "pin_code": "160002",
        "billing_email": "finance@umbrella.example",
        "payment_terms_days": 15,
    },
    {
        "display_name": "Hooli Himalaya",
        "legal_name": "Hooli Himalaya Services Private Limited",
        "gstin": "38AAJCH4410L1ZE",
        "address_line1": "Old Fort Road",
        "city": "Leh",
        "state": "38",
        "pin_code": "194101",
        "billing_email": "accounts@hooli.example",
        "payment_terms_days": 15,
    },
    {
        "display_name": "Stark Compute",
        "legal_name": "Stark Compute Private Limited",
        "gstin": "07AAFCS9911Q1ZM",
        "address_line1": "A-24 Okhla Industrial Estate Phase III",
        "city": "New Delhi",
        "state": "07",
        "pin_code": "110020",
        "billing_email": "payables@stark.example",
        "payment_terms_days": 15,
        "status": Tenant.Status.SUSPENDED,
        "status_reason": "Invoices unpaid past the grace period",
    },
]

# username, first name, last name, email, staff group, [(tenant, role)]
USERS: list[tuple[str, str, str, str, str | None, list[tuple[str, str]]]] = [
    ("admin", "Asha", "Kulkarni", "asha@cirrus.example", BILLING_ADMIN, []),
    ("finance", "Farhan", "Sheikh", "farhan@cirrus.example", FINANCE, []),
    (
        "acme-owner",
        "Anita",
        "Desai",
        "anita@acme.example",
        None,
        [("Acme Cloud", Membership.Role.OWNER), ("Acme Retail", Membership.Role.ADMIN)],
    ),
    ("acme-viewer", "Vikram", "Rao", "vikram@acme.example", None, [("Acme Cloud", "viewer")]),
    (
        "globex-owner",
        "Gauri",
        "Menon",
        "gauri@globex.example",
        None,
        [("Globex Analytics", "owner")],
    ),
]


class Command(BaseCommand):
    help = "Load the demo data (idempotent). Refused in production unless --force."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Allow in production.")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION and not options["force"]:
            raise CommandError(
                "seed_demo creates users with the password 'demo': not in production."
            )
        from invoices.demo import seed_invoices

        with transaction.atomic():
            created = self.seed()
            created += seed_invoices(
                admin=User.objects.get(username="admin"),
                customer=User.objects.get(username="acme-owner"),
            )
        # After the seed commits: Pay Now's steps each commit on their own, as requests do.
        from invoices.demo import seed_gateway_payments

        created += seed_gateway_payments(customer=User.objects.get(username="acme-owner"))
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} new rows)."))
        self.stdout.write("Demo logins (password 'demo'):")
        for username, first, _last, _email, group, memberships in USERS:
            role = group or ", ".join(f"{role} of {tenant}" for tenant, role in memberships)
            self.stdout.write(f"  {username:<14} {first:<8} {role}")

    def seed(self) -> int:
        created = 0
        _, new = ProviderProfile.objects.get_or_create(pk=1, defaults=PROVIDER)
        created += new
        tenants = {}
        for data in TENANTS:
            defaults = {k: v for k, v in data.items() if k != "display_name"}
            tenant, new = Tenant.objects.get_or_create(
                display_name=data["display_name"], defaults=defaults
            )
            if new:
                tenant.full_clean()
            tenants[tenant.display_name] = tenant
            created += new
        for username, first, last, email, group_name, memberships in USERS:
            user, new = User.objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last, "email": email}
            )
            if new:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
                created += 1
            if group_name and not user.groups.filter(name=group_name).exists():
                user.groups.add(Group.objects.get(name=group_name))
            for tenant_name, role in memberships:
                _, new = Membership.objects.get_or_create(
                    user=user, tenant=tenants[tenant_name], defaults={"role": role}
                )
                created += new
        return created
