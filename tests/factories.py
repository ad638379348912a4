import factory
from django.contrib.auth.models import Group, User

from billing_portal.lib.gst import gstin_check_character
from tenants.models import Membership, ProviderProfile, Tenant
from tenants.roles import BILLING_ADMIN, FINANCE

PASSWORD = "correct horse battery staple"


def make_gstin(state: str, pan: str, entity: str = "1") -> str:
    first = f"{state}{pan}{entity}Z"
    return first + gstin_check_character(first)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def staff_group(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))
        if create:
            self.save()


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    display_name = factory.Sequence(lambda n: f"Tenant {n}")
    legal_name = factory.LazyAttribute(lambda t: f"{t.display_name} Private Limited")
    state = "29"
    gstin = factory.Sequence(lambda n: make_gstin("29", f"AABC{chr(65 + n % 26)}{n % 10000:04d}Q"))
    address_line1 = "1 MG Road"
    city = "Bengaluru"
    pin_code = "560001"
    billing_email = factory.LazyAttribute(
        lambda t: f"billing@{t.display_name.lower().replace(' ', '-')}.example"
    )


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    role = Membership.Role.VIEWER


class ProviderProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderProfile
        django_get_or_create = ("pk",)

    pk = 1
    legal_name = "Cirrus Cloud Services Private Limited"
    gstin = "27AAHCC4821K1ZJ"
    pan = "AAHCC4821K"
    email = "billing@cirrus.example"
    address_line1 = "Panchshil Tech Park"
    city = "Pune"
    state = "27"
    pin_code = "411006"
    invoice_number_prefix = "CRS"


def staff_user(username: str, group: str) -> User:
    return UserFactory(username=username, staff_group=group)


__all__ = ["BILLING_ADMIN", "FINANCE"]
