"""Find or create the user behind an email address or a username."""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.usernames import username_key

USERNAME_MAX_LENGTH = 150
# Room for a "-12345" suffix when the derived name is taken.
DERIVED_USERNAME_MAX_LENGTH = USERNAME_MAX_LENGTH - 10
FALLBACK_USERNAME = "member"
NOT_USERNAME_CHARS = re.compile(r"[^\w.@+-]")


def username_is_valid(username: str) -> bool:
    """Return whether ``username`` is a name Django's user model accepts."""
    if not username or len(username) > USERNAME_MAX_LENGTH:
        return False
    try:
        User.username_validator(username)
    except ValidationError:
        return False
    return True


def username_from_email(email: str) -> str:
    """Return a free username derived from the local part of ``email``.

    ``ann.lee@example.org`` becomes ``ann.lee``, then ``ann.lee-2``, ``ann.lee-3`` … when a
    name that reads the same is taken: ``Ann.Lee``, or ``ann.lee`` with a Cyrillic e (see
    ``accounts.usernames``). The local part is NFKC-normalised first, as Django
    normalises usernames when it saves them, so the name checked is the name stored.
    """
    local = unicodedata.normalize("NFKC", email.rsplit("@", 1)[0])
    base = NOT_USERNAME_CHARS.sub("", local)[:DERIVED_USERNAME_MAX_LENGTH] or FALLBACK_USERNAME
    candidate, suffix = base, 1
    while _name_taken(candidate):
        suffix += 1
        candidate = f"{base}-{suffix}"
    return candidate


def _name_taken(username: str) -> bool:
    """Whether a user has ``username`` or a name that reads the same (its key)."""
    same = User.objects.filter(username_key=username_key(username))
    # And by the name itself: a row written without save() (bulk_create) has no key.
    return same.exists() or User.objects.filter(username__iexact=username).exists()


def _create(*, username: str, email: str = "") -> User:
    user = User(username=username, email=email)
    user.set_unusable_password()
    user.full_clean()
    user.save()
    return user


@transaction.atomic
def user_get_or_create_by_email(*, email: str) -> User:
    """Return the user whose email is ``email`` (any case), creating one if there is none.

    Two concurrent first sign-ins of one address would both try to create the account; the
    unique email constraint lets one win, and the other then finds that account.
    """
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        return user
    try:
        with transaction.atomic():
            return _create(username=username_from_email(email), email=email)
    except (IntegrityError, ValidationError):
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise
        return user


@transaction.atomic
def user_get_or_create_by_username(*, username: str) -> tuple[User, bool]:
    """Return the user named exactly ``username`` and whether it was created now."""
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user, False
    return _create(username=username), True
