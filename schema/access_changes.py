"""Tell open subscriptions that someone's access may have been withdrawn.

Receivers on the models that grant access (tokens, sessions, users, memberships,
communities) send, once the change is committed, a message to the groups the affected
subscriptions listen to: ``access.user.<id>`` for one person, ``access.community.<id>`` for a
community's outside viewers. The message only asks for a re-check from the database, so it
carries nothing private and losing one delays the end of a subscription (until its periodic
re-check) but never grants anything. The channel layer carries it to every server.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from accounts.models import ApiToken, User
from democracy.models import Community, Membership

ACCESS_CHANGED = "access.changed"
logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"access.user.{user_id}"


def community_group(community_id: int) -> str:
    return f"access.community.{community_id}"


def _send(group: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": ACCESS_CHANGED})
    except Exception:
        logger.warning("Access change for %s not sent", group, exc_info=True)


def access_changed(group: str) -> None:
    """Ask the subscriptions of ``group`` to re-check their access once this commits."""
    transaction.on_commit(lambda: _send(group), robust=True)


def token_saved(sender: type[ApiToken], instance: ApiToken, **kwargs: Any) -> None:
    if instance.revoked_at is not None:
        access_changed(user_group(instance.user_id))


def user_saved(sender: type[User], instance: User, **kwargs: Any) -> None:
    if not instance.is_active:
        access_changed(user_group(instance.pk))


def signed_out(sender: object, user: User | None = None, **kwargs: Any) -> None:
    if user is not None:
        access_changed(user_group(user.pk))


def membership_saved(
    sender: type[Membership], instance: Membership, created: bool, **kwargs: Any
) -> None:
    if not created:  # Unapproved, or no longer a manager (who alone sees drafts).
        access_changed(user_group(instance.user_id))


def membership_deleted(sender: type[Membership], instance: Membership, **kwargs: Any) -> None:
    access_changed(user_group(instance.user_id))


def community_saved(
    sender: type[Community], instance: Community, created: bool, **kwargs: Any
) -> None:
    if not created and not instance.results_are_public:
        access_changed(community_group(instance.pk))


def connect() -> None:
    """Connect every receiver once (``dispatch_uid`` guards against double imports)."""
    post_save.connect(token_saved, sender=ApiToken, dispatch_uid="access.token_saved")
    post_save.connect(user_saved, sender=User, dispatch_uid="access.user_saved")
    user_logged_out.connect(signed_out, dispatch_uid="access.signed_out")
    post_save.connect(membership_saved, sender=Membership, dispatch_uid="access.membership_saved")
    post_delete.connect(
        membership_deleted, sender=Membership, dispatch_uid="access.membership_deleted"
    )
    post_save.connect(community_saved, sender=Community, dispatch_uid="access.community_saved")
