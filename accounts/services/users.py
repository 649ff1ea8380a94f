"""Find or create the user behind an email address or a username."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User

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

    ``ann.lee@example.org`` becomes ``ann.lee``, then ``ann.lee-2``, ``ann.lee-3`` … when
    taken (compared case-insensitively, so ``Ann.Lee`` and ``ann.lee`` never coexist).
    """
    local = email.rsplit("@", 1)[0]
    base = NOT_USERNAME_CHARS.sub("", local)[:DERIVED_USERNAME_MAX_LENGTH] or FALLBACK_USERNAME
    candidate, suffix = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        suffix += 1
        candidate = f"{base}-{suffix}"
    return candidate


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
