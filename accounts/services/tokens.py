"""API bearer tokens: issued once in clear, stored as SHA-256, revocable."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django.utils import timezone

from accounts import errors
from accounts.errors import AccountErrorCode
from accounts.models import ApiToken, User
from accounts.services.users import user_get_or_create_by_username, username_is_valid
from core.errors import DomainError
from core.logs import Event, log_event
from core.rows import columns, first_of, table

TOKEN_PREFIX = "cv_"
# last_used_at is informative only; writing it on every request would serialise SQLite.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def hash_secret(raw: str) -> str:
    """Return the SHA-256 hex digest of a high-entropy secret.

    Tokens carry 256 random bits, so a fast unsalted hash is enough: there is nothing to
    brute-force, and a lookup by hash stays an indexed equality.
    """
    return hashlib.sha256(raw.encode()).hexdigest()


def new_secret(prefix: str = TOKEN_PREFIX) -> str:
    """Return a fresh random secret (256 bits) with a recognisable prefix."""
    return prefix + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    username: str
    token: str
    user_created: bool


@transaction.atomic
def token_issue(*, user: User, name: str = "", session_key: str = "") -> tuple[ApiToken, str]:
    """Create a token for ``user`` and return it with its clear text (shown once).

    ``session_key`` names the browser session opened by the same sign-in, if any.
    """
    raw = new_secret()
    token = ApiToken.objects.create(
        user=user, name=name[:100], token_hash=hash_secret(raw), session_key=session_key or ""
    )
    label = f" ({token.name})" if token.name else ""
    # The id identifies the token in the admin; the secret itself is never logged.
    log_event(Event.TOKEN_ISSUED, user.get_username(), f"API token #{token.pk}{label} issued")
    return token, raw


@transaction.atomic
def token_issue_for_usernames(
    *, usernames: Sequence[str], name: str = "issue_token"
) -> list[IssuedToken]:
    """Create the users that do not exist yet and issue one token to each name.

    Repeated names get one token. One invalid name refuses the whole batch, so a typo in a
    script never leaves half of the accounts created.
    """
    wanted = list(dict.fromkeys(usernames))
    invalid = [username for username in wanted if not username_is_valid(username)]
    if invalid or not wanted:
        names = ", ".join(repr(username) for username in invalid) or "none given"
        raise DomainError(
            AccountErrorCode.INVALID_USERNAME,
            errors.INVALID_USERNAME.format(names=names),
            field="usernames",
        )
    issued = []
    for username in wanted:
        user, created = user_get_or_create_by_username(username=username)
        raw = token_issue(user=user, name=name)[1]
        issued.append(IssuedToken(username=username, token=raw, user_created=created))
    return issued


def token_authenticate(raw: str) -> ApiToken | None:
    """Return the active token of an active user matching ``raw``, with the user, or None.

    A token issued with a browser session (``session_key``) is active only while that
    session is: signed out, expired, or deleted by ``clearsessions``, the token ends too.
    Sessions live in the database (Django's default engine, which the settings keep).

    Hand-written SQL (``core.rows``), prepared on PostgreSQL: every API request runs it.
    """
    now = timezone.now()
    found = first_of(
        (ApiToken, User),
        f"SELECT {columns(ApiToken, 't')}, {columns(User, 'u')} FROM {table(ApiToken)} t "
        f"JOIN {table(User)} u ON u.id = t.user_id "
        f"LEFT JOIN {table(Session)} s ON t.session_key <> '' AND s.session_key = t.session_key "
        "WHERE t.token_hash = %s AND t.revoked_at IS NULL AND u.is_active = %s "
        "AND (t.session_key = '' OR s.expire_date > %s)",
        [hash_secret(raw), True, connection.ops.adapt_datetimefield_value(now)],
        prepared="crowdvote_token",
    )
    if not found:
        return None
    token, token.user = found
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def token_in_force(token_id: int, user_id: int) -> tuple[bool, datetime | None]:
    """Return whether the token still signs ``user_id`` in, and when its session ends.

    The same rule as :func:`token_authenticate`, for a websocket re-checking the token it
    was opened with; the end (None without a session) tells it when to check again.
    """
    session_key = (
        ApiToken.objects.filter(pk=token_id, user_id=user_id, revoked_at__isnull=True)
        .values_list("session_key", flat=True)
        .first()
    )
    if session_key is None:
        return False, None
    if not session_key:
        return True, None
    ends_at = (
        Session.objects.filter(session_key=session_key)
        .values_list("expire_date", flat=True)
        .first()
    )
    if ends_at is None or ends_at <= timezone.now():
        return False, None
    return True, ends_at


@transaction.atomic
def token_revoke(*, token: ApiToken, by: User | None = None) -> ApiToken:
    """Revoke ``token``; requests carrying it are refused (UNAUTHENTICATED) from now on.

    ``by`` is the staff user revoking someone's token, logged as ``TOKEN_REVOKED``; a
    sign-out passes nothing and logs the revocation in its own line.
    """
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        if by is not None:
            owner = token.user.get_username()
            log_event(
                Event.TOKEN_REVOKED, by.get_username(), f"API token #{token.pk} of {owner} revoked"
            )
    return token
