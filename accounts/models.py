"""Users and the secrets that sign them in (magic links and API tokens, stored hashed)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from accounts.usernames import username_key


class User(AbstractUser):
    """A person; their email (optional, unique when set) receives magic links."""

    # ``accounts.usernames.username_key`` of the username, kept by save(): finds look-alikes
    # of a name with an index. Not unique: names given by staff are theirs to choose.
    username_key = models.CharField(max_length=150, db_index=True, editable=False, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"), condition=~Q(email=""), name="user_email_unique_ci"
            ),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.username_key = username_key(self.username)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "username" in update_fields:
            kwargs["update_fields"] = {*update_fields, "username_key"}
        super().save(*args, **kwargs)


class MagicLink(models.Model):
    """A single-use sign-in link sent by email; only the SHA-256 of its token is stored."""

    email = models.EmailField(db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    requested_ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Magic link for {self.email}"


class RateLimitKey(models.Model):
    """One row per rate-limited key (an email address, a client address), locked while counting.

    Counting recent links and inserting one must not interleave, or concurrent requests all
    see room under the limit; the row lock makes them take turns.
    """

    key = models.CharField(max_length=300, unique=True)

    def __str__(self) -> str:
        return self.key


class ApiToken(models.Model):
    """A bearer token for scripts and front ends; only the SHA-256 of the token is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The browser session opened by the same sign-in: signing out of either ends both.
    session_key = models.CharField(max_length=40, blank=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.name or 'token'} of {self.user}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
