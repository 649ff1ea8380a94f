"""Sign-in by email: request a single-use link, then redeem it for the account.

Anyone may request a link for any address and gets the same answer whether or not an
account uses it, so the API never tells who is registered. Redeeming a link for an
address without an account creates the account (username derived from the address):
opening a link sent to an address proves control of it, which is all that signing up
would prove.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from accounts import errors
from accounts.errors import AccountErrorCode
from accounts.models import MagicLink, RateLimitKey, User
from accounts.services.tokens import hash_secret, new_secret
from accounts.services.users import user_get_or_create_by_email
from core.errors import DomainError
from core.logs import Event, log_event

MAGIC_LINK_PREFIX = "cvl_"
# Far longer than any token we issue; longer input is refused before hashing.
TOKEN_MAX_LENGTH = 200
EMAIL_MAX_LENGTH = 254
SIGN_IN_PATH = "/sign-in/"
SUBJECT = "Your CrowdVote sign-in link"
BODY = """Hello,

open this link to sign in to CrowdVote:

{url}

or enter this sign-in code where CrowdVote asks for it:

{token}

The link works once and expires in {minutes} minutes. If there is no CrowdVote account
for this address yet, opening the link creates one.

If you did not ask to sign in, ignore this email: nothing happens without the link.
"""


def email_normalise(email: str) -> str:
    """Return ``email`` trimmed and lower-cased, or raise ``INVALID_EMAIL``.

    The whole address is lower-cased: mail providers treat local parts case-insensitively
    in practice, and accounts are unique by email regardless of case.
    """
    address = email.strip().lower()
    try:
        if len(address) > EMAIL_MAX_LENGTH:
            raise ValidationError(errors.INVALID_EMAIL)
        validate_email(address)
    except ValidationError:
        raise DomainError(
            AccountErrorCode.INVALID_EMAIL, errors.INVALID_EMAIL, field="email"
        ) from None
    return address


def email_mask(email: str) -> str:
    """Return ``email`` with most of its local part hidden, for logs."""
    local, _, domain = email.partition("@")
    return f"{local[:2]}***@{domain}"


def local_path(url: str | None) -> str:
    """Return ``url`` if it is a path on this site (safe to return to), else ""."""
    if not url or not url.startswith("/") or not url_has_allowed_host_and_scheme(url, None):
        return ""
    return url


def sign_in_url(token: str, next_path: str = "") -> str:
    """Return the public URL of the sign-in page for ``token``, returning to ``next_path``."""
    query = {"token": token, **({"next": next_path} if local_path(next_path) else {})}
    return f"{settings.PUBLIC_URL}{SIGN_IN_PATH}?{urlencode(query)}"


def _send(email: str, token: str, next_path: str) -> None:
    minutes = max(1, settings.MAGIC_LINK_TTL_SECONDS // 60)
    body = BODY.format(url=sign_in_url(token, next_path), token=token, minutes=minutes)
    send_mail(SUBJECT, body, None, [email])


def _rate_limit_lock(*, email: str, ip: str | None) -> None:
    """Lock the rate-limit rows of ``email`` and ``ip`` until the transaction ends.

    Concurrent requests for one address (or from one client address) then count and insert
    one after another, so none sees room that another is about to take. Rows are locked in
    key order ("email:" before "ip:"), so two requests never wait for each other in a cycle.
    """
    keys = [f"email:{email}"] + ([f"ip:{ip}"] if ip else [])
    RateLimitKey.objects.bulk_create([RateLimitKey(key=key) for key in keys], ignore_conflicts=True)
    list(RateLimitKey.objects.select_for_update().filter(key__in=keys).order_by("key"))


def _rate_limited(*, email: str, ip: str | None, since: timedelta) -> bool:
    # Counting rows (not a process-local counter) holds across processes and restarts.
    _rate_limit_lock(email=email, ip=ip)
    recent = MagicLink.objects.filter(created_at__gte=timezone.now() - since)
    if recent.filter(email=email).count() >= settings.MAGIC_LINK_MAX_PER_ADDRESS:
        return True
    return bool(ip) and recent.filter(requested_ip=ip).count() >= settings.MAGIC_LINK_MAX_PER_IP


@transaction.atomic
def magic_link_request(*, email: str, ip: str | None, next_path: str = "") -> None:
    """Create a sign-in link for ``email`` and mail it once the transaction commits.

    Known and unknown addresses get the same answer. Only the SHA-256 of the token is
    stored; the clear token exists only in the email. The link leads on to ``next_path``
    when that is a path on this site.
    """
    address = email_normalise(email)
    user = User.objects.filter(email__iexact=address).first()
    actor = user.get_username() if user else "-"
    window = timedelta(seconds=settings.MAGIC_LINK_RATE_WINDOW_SECONDS)
    if _rate_limited(email=address, ip=ip, since=window):
        log_event(
            Event.MAGIC_LINK_REQUESTED,
            actor,
            f"Sign-in link for {email_mask(address)} refused from {ip or 'unknown address'}: "
            "rate limit",
            level=logging.WARNING,
        )
        raise DomainError(AccountErrorCode.RATE_LIMITED, errors.RATE_LIMITED, field="email")
    token = new_secret(MAGIC_LINK_PREFIX)
    link = MagicLink(
        email=address,
        token_hash=hash_secret(token),
        requested_ip=ip or None,
        expires_at=timezone.now() + timedelta(seconds=settings.MAGIC_LINK_TTL_SECONDS),
    )
    link.full_clean()
    link.save()
    transaction.on_commit(partial(_send, address, token, next_path))
    log_event(
        Event.MAGIC_LINK_REQUESTED,
        actor,
        f"Sign-in link sent to {email_mask(address)} (requested from {ip or 'unknown address'})",
    )


def _refuse(*, token_hash: str | None, ip: str | None) -> DomainError:
    link = MagicLink.objects.filter(token_hash=token_hash).first() if token_hash else None
    if link is None:
        code, message, what = AccountErrorCode.INVALID_TOKEN, errors.INVALID_TOKEN, "unknown"
    elif link.used_at is not None:
        code, message, what = AccountErrorCode.USED_TOKEN, errors.USED_TOKEN, "already used"
    else:
        code, message, what = AccountErrorCode.EXPIRED_TOKEN, errors.EXPIRED_TOKEN, "expired"
    target = f" for {email_mask(link.email)}" if link else ""
    log_event(
        Event.SIGN_IN_FAILED,
        "-",
        f"Magic link{target} refused from {ip or 'unknown address'}: {what}",
        level=logging.WARNING,
    )
    return DomainError(code, message, field="token")


@transaction.atomic
def magic_link_redeem(*, token: str, ip: str | None) -> User:
    """Use up the link of ``token`` and return its account, created on first sign-in.

    The link is claimed by one conditional UPDATE (``used_at IS NULL`` and not expired),
    so of two concurrent redemptions the database lets exactly one succeed. The address's
    other outstanding links are retired with it: one sign-in uses up every link sent before.
    """
    raw = token.strip()
    if not raw or len(raw) > TOKEN_MAX_LENGTH:
        raise _refuse(token_hash=None, ip=ip)
    token_hash = hash_secret(raw)
    now = timezone.now()
    claimed = MagicLink.objects.filter(
        token_hash=token_hash, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if not claimed:
        raise _refuse(token_hash=token_hash, ip=ip)
    link = MagicLink.objects.get(token_hash=token_hash)
    # Expired rather than used: whoever opens an older link is told to request a new one.
    MagicLink.objects.filter(email=link.email, used_at__isnull=True, expires_at__gt=now).update(
        expires_at=now
    )
    user = user_get_or_create_by_email(email=link.email)
    if not user.is_active:
        log_event(
            Event.SIGN_IN_FAILED,
            user.get_username(),
            f"Magic link refused from {ip or 'unknown address'}: account deactivated",
            level=logging.WARNING,
        )
        # Raising rolls the claim back; the answer does not reveal the deactivation.
        raise DomainError(AccountErrorCode.INVALID_TOKEN, errors.INVALID_TOKEN, field="token")
    log_event(Event.SIGN_IN, user.get_username(), f"Signed in with a magic link from {ip or '-'}")
    return user
