"""Follow a member on topics (delegation), re-tag or reorder, unfollow."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Max

from core.errors import DomainError
from core.logs import Event, log_event
from democracy import errors
from democracy.access import member_require
from democracy.errors import DemocracyErrorCode
from democracy.models import Community, Following, Membership
from democracy.pseudonyms import display_name
from democracy.tags import normalize_tags

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User


def _followee_in(community: Community, followee: Membership | None) -> Membership:
    # Re-read: the caller's copy may predate the followee leaving or losing approval.
    current = None
    if followee is not None:
        current = (
            Membership.objects.select_related("user")
            .filter(pk=followee.pk, community_id=community.pk, is_approved=True)
            .first()
        )
    if current is None:
        raise DomainError(
            DemocracyErrorCode.NOT_MEMBER, errors.FOLLOWEE_NOT_MEMBER, field="followeeId"
        )
    return current


def _topics(tags: list[str]) -> str:
    return ", ".join(tags) if tags else "all topics"


@transaction.atomic
def following_upsert(
    *,
    user: User | AnonymousUser | None,
    community: Community,
    followee: Membership | None,
    tags: Iterable[str] = (),
    order: int | None = None,
) -> Following:
    """Follow ``followee`` on ``tags`` (empty: every topic), or update an existing follow.

    Without ``order`` a new follow goes last and an existing one keeps its place.
    """
    follower = member_require(user, community, for_update=True)
    followee = _followee_in(community, followee)
    if followee.pk == follower.pk:
        raise DomainError(DemocracyErrorCode.FOLLOW_SELF, errors.FOLLOW_SELF, field="followeeId")
    if order is not None and (isinstance(order, bool) or not isinstance(order, int) or order < 1):
        raise DomainError(DemocracyErrorCode.INVALID_ORDER, errors.INVALID_ORDER, field="order")
    clean_tags = normalize_tags(tags)
    following = Following.objects.filter(follower=follower, followee=followee).first()
    if following is None:
        last = Following.objects.filter(follower=follower).aggregate(last=Max("order"))["last"]
        following = Following(
            community=community, follower=follower, followee=followee, order=(last or 0) + 1
        )
    following.tags = clean_tags
    if order is not None:
        following.order = order
    following.full_clean()
    following.save()
    log_event(
        Event.FOLLOW,
        display_name(follower),
        f"Follows {display_name(followee)} on {_topics(clean_tags)} in '{community.name}'",
    )
    return following


@transaction.atomic
def following_delete(
    *, user: User | AnonymousUser | None, community: Community, followee: Membership | None
) -> None:
    """Stop following ``followee``."""
    follower = member_require(user, community, for_update=True)
    followee = _followee_in(community, followee)
    deleted, _ = Following.objects.filter(follower=follower, followee=followee).delete()
    if not deleted:
        raise DomainError(
            DemocracyErrorCode.NOT_FOLLOWING, errors.NOT_FOLLOWING, field="followeeId"
        )
    log_event(
        Event.UNFOLLOW,
        display_name(follower),
        f"Unfollowed {display_name(followee)} in '{community.name}'",
    )
