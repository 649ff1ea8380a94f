"""API bearer tokens: issued once in clear, stored as SHA-256, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, User

TOKEN_PREFIX = "cv_"
# last_used_at is informative only; writing it on every request would serialise SQLite.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def hash_secret(raw: str) -> str:
    """Return the SHA-256 hex digest of a high-entropy secret.

    Tokens carry 256 random bits, so a fast unsalted hash is enough: there is nothing to
    brute-force, and a lookup by hash stays an indexed equality.
    """
    return hashlib.sha256(raw.encode()).hexdigest()


def new_secret() -> str:
    """Return a fresh random secret with the CrowdVote prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@transaction.atomic
def token_issue(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    """Create a token for ``user`` and return it with its clear text (shown once)."""
    raw = new_secret()
    token = ApiToken.objects.create(user=user, name=name[:100], token_hash=hash_secret(raw))
    return token, raw


def token_authenticate(raw: str) -> ApiToken | None:
    """Return the active token matching ``raw``, or None."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=hash_secret(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


@transaction.atomic
def token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke ``token``; requests carrying it are anonymous from now on."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
