"""Every write to tenants, memberships and the provider profile, and sign-in lockout."""

import hashlib
import logging

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.text import slugify

from billing_portal.lib.email import send_templated_email
from tenants.models import Membership, ProviderProfile, Tenant

log = logging.getLogger(__name__)

PROVIDER_PK = 1


# --- Tenants --------------------------------------------------------------------------------


@transaction.atomic
def tenant_save(*, tenant: Tenant, actor: User) -> Tenant:
    """Create or update a tenant whose fields a validated form has set."""
    tenant.full_clean()
    created = tenant.pk is None
    tenant.save()
    log.info("tenant %s %s by %s", tenant.pk, "created" if created else "updated", actor)
    return tenant


@transaction.atomic
def tenant_set_status(
    *, tenant: Tenant, status: str, reason: str, actor: User | None, automatic: bool = False
) -> Tenant:
    """Suspend or reactivate; a no-op move is refused so the button can't be pressed twice.

    ``actor`` None: the system. ``automatic``: the daily sweep suspends a tenant past its grace
    period, and paying what is overdue lifts that suspension (a person's does not lift).
    """
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if locked.status == status:
        raise ValidationError(
            f"{locked.display_name} is already {locked.get_status_display().lower()}."
        )
    locked.status = status
    locked.status_reason = reason
    locked.status_changed_at = timezone.now()
    locked.auto_suspended = automatic and status == Tenant.Status.SUSPENDED
    locked.save(
        update_fields=[
            "status",
            "status_reason",
            "status_changed_at",
            "auto_suspended",
            "updated_at",
        ]
    )
    log.info("tenant %s set %s by %s: %s", locked.pk, status, actor or "system", reason)
    return locked


# --- Members --------------------------------------------------------------------------------


def _unique_username(email: str) -> str:
    base = slugify(email.split("@")[0])[:140] or "user"
    candidate, n = base, 1
    while User.objects.filter(username=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _lock_membership(membership: Membership) -> Membership:
    # Lock the tenant first: two admins removing the last two owners at once must not both win.
    Tenant.objects.select_for_update().get(pk=membership.tenant_id)
    return Membership.objects.select_for_update().get(pk=membership.pk)


def _refuse_if_last_owner(membership: Membership) -> None:
    others = (
        Membership.objects.filter(tenant_id=membership.tenant_id, role=Membership.Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )
    if membership.role == Membership.Role.OWNER and not others:
        raise ValidationError("An organisation needs at least one owner: add another first.")


@transaction.atomic
def membership_add(*, tenant: Tenant, email: str, role: str, actor: User) -> Membership:
    """Add a person to a tenant by email; a new person gets an invitation to set a password."""
    email = User.objects.normalize_email(email).strip()
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    invited = user is None
    if user is None:
        user = User.objects.create_user(username=_unique_username(email), email=email)
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if Membership.objects.filter(tenant=tenant, user=user).exists():
        raise ValidationError(f"{email} is already a member of {tenant.display_name}.")
    membership = Membership.objects.create(tenant=tenant, user=user, role=role)
    if invited:
        transaction.on_commit(lambda: _send_invitation(user=user, tenant=tenant))
    log.info("membership %s added to tenant %s by %s", membership.pk, tenant.pk, actor)
    return membership


def _send_invitation(*, user, tenant: Tenant) -> None:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = settings.SITE_URL + reverse("password_reset_confirm", args=[uid, token])
    send_templated_email(
        "emails/invitation",
        to=[user.email],
        context={"user": user, "tenant": tenant, "link": link},
    )


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str, actor: User) -> Membership:
    locked = _lock_membership(membership)
    if role != Membership.Role.OWNER:
        _refuse_if_last_owner(locked)
    locked.role = role
    locked.save(update_fields=["role"])
    log.info("membership %s role %s by %s", locked.pk, role, actor)
    return locked


@transaction.atomic
def membership_remove(*, membership: Membership, actor: User) -> None:
    locked = _lock_membership(membership)
    _refuse_if_last_owner(locked)
    locked.delete()
    log.info("membership %s removed by %s", membership.pk, actor)


# --- The provider ---------------------------------------------------------------------------


def provider_profile_get() -> ProviderProfile | None:
    return ProviderProfile.objects.filter(pk=PROVIDER_PK).first()


@transaction.atomic
def provider_profile_save(*, profile: ProviderProfile, actor: User) -> ProviderProfile:
    profile.pk = PROVIDER_PK
    profile.updated_by = actor
    profile.full_clean()
    profile.save()
    log.info("provider profile updated by %s", actor)
    return profile


# --- Sign-in lockout ------------------------------------------------------------------------
# Counters live in the cache (Redis in production, so every web process shares them). Both the
# username and the client address are counted: one stops guessing one account's password, the
# other stops one address trying many accounts.


def _lock_keys(username: str, address: str) -> list[str]:
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [f"login-fail:user:{digest}", f"login-fail:addr:{address}"]


def login_is_locked(*, username: str, address: str) -> bool:
    limit = settings.LOGIN_FAILURE_LIMIT
    # The address limit is looser: an office behind one NAT shares it.
    user_key, addr_key = _lock_keys(username, address)
    try:
        counts = cache.get_many([user_key, addr_key])
    except Exception:
        # The cache (Redis) is down: people can still sign in, unlimited until it is back.
        log.warning("sign-in lockout unavailable: the cache did not answer", exc_info=True)
        return False
    return counts.get(user_key, 0) >= limit or counts.get(addr_key, 0) >= limit * 4


def login_failure_record(*, username: str, address: str) -> None:
    log.warning("failed sign-in for %r from %s", username[:150], address)
    try:
        for key in _lock_keys(username, address):
            # add() starts the window only once; incr() keeps its expiry.
            if not cache.add(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS):
                try:
                    cache.incr(key)
                except ValueError:
                    cache.add(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
    except Exception:
        log.warning("sign-in failure not counted: the cache did not answer", exc_info=True)


def login_success_clear(*, username: str, address: str) -> None:
    try:
        cache.delete(_lock_keys(username, address)[0])
    except Exception:
        log.warning("sign-in count not cleared: the cache did not answer", exc_info=True)
