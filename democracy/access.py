"""Who may act where: membership and manager checks shared by the services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import Forbidden, NotAuthenticated
from democracy import errors
from democracy.models import Membership

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User
    from democracy.models import Community


def user_require(user: User | AnonymousUser | None) -> User:
    """Return ``user`` if signed in, else raise ``NotAuthenticated``."""
    if user is None or not user.is_authenticated:
        raise NotAuthenticated()
    return user


def membership_of(user: User | AnonymousUser | None, community: Community) -> Membership | None:
    """Return the user's membership in ``community`` (approved or not), or None."""
    if user is None or not user.is_authenticated:
        return None
    return (
        Membership.objects.select_related("user", "community")
        .filter(user_id=user.pk, community_id=community.pk)
        .first()
    )


def member_require(
    user: User | AnonymousUser | None, community: Community, *, for_update: bool = False
) -> Membership:
    """Return the user's approved membership in ``community``, or raise."""
    signed_in = user_require(user)
    queryset = Membership.objects.select_related("user", "community")
    if for_update:
        queryset = queryset.select_for_update()
    membership = queryset.filter(user_id=signed_in.pk, community_id=community.pk).first()
    if membership is None:
        raise Forbidden(errors.NOT_A_MEMBER)
    if not membership.is_approved:
        raise Forbidden(errors.NOT_APPROVED)
    return membership


def manager_require(user: User | AnonymousUser | None, community: Community) -> Membership:
    """Return the user's membership if they manage ``community``, or raise ``Forbidden``."""
    membership = member_require(user, community)
    if not membership.is_manager:
        raise Forbidden(errors.NOT_A_MANAGER)
    return membership
