"""Writes for usage: ingest tokens (the records themselves go through usage.ingest)."""

import hashlib
import secrets

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from usage.models import IngestToken

TOKEN_PREFIX = "cbu_"  # noqa: S105 - a public prefix that secret scanners can match


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def ingest_token_create(*, name: str, actor: User) -> tuple[IngestToken, str]:
    """A new token; the raw value is returned once and never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = IngestToken.objects.create(
        name=name.strip()[:100],
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        token_hash=token_digest(raw),
        created_by=actor,
    )
    return token, raw


@transaction.atomic
def ingest_token_revoke(*, token: IngestToken, actor: User) -> IngestToken:
    IngestToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db()
    return token


def ingest_token_authenticate(header: str) -> IngestToken | None:
    """The live token an ``Authorization: Bearer ...`` header names, or None."""
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    token = IngestToken.objects.filter(
        token_hash=token_digest(raw.strip()), revoked_at__isnull=True
    ).first()
    if token is not None:
        now = timezone.now()
        # One write a minute at most per token, not one per batch.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            IngestToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
