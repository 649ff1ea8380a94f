"""Who may act where: membership and manager checks shared by the services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import Forbidden, NotAuthenticated
from core.rows import columns, first_of, table
from democracy import errors
from democracy.models import Membership
from democracy.pseudonyms import display_name

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User
    from democracy.models import Community


@dataclass(frozen=True, slots=True)
class Staff:
    """A staff user changing data from the admin, with the powers of a community's managers.

    Only the admin passes one: the API passes the signed-in user, so being staff grants
    nothing there. The event log names the staff user.
    """

    user: User


def staff_require(staff: Staff) -> Staff:
    """Return ``staff`` if its user is active staff, else raise ``Forbidden``."""
    if not (staff.user.is_active and staff.user.is_staff):
        raise Forbidden(errors.NOT_STAFF)
    return staff


def actor_name(actor: Membership | Staff) -> str:
    """Return how the event log names who acted: a member's shown name or the staff user."""
    return actor.user.get_username() if isinstance(actor, Staff) else display_name(actor)


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
    if for_update:
        # Joined, the user's and the community's rows are locked too (PostgreSQL).
        membership = (
            Membership.objects.filter(user_id=signed_in.pk, community_id=community.pk)
            .select_related("user", "community")
            .select_for_update()
            .first()
        )
    else:
        # The user and the community are the rows in hand: no join to read them again,
        # and hand-written SQL (``core.rows``): a ballot storm runs this once per ballot.
        found = first_of(
            (Membership,),
            f"SELECT {columns(Membership, 'm')} FROM {table(Membership)} m "
            "WHERE m.user_id = %s AND m.community_id = %s",
            [signed_in.pk, community.pk],
        )
        membership = found[0] if found else None
        if membership is not None:
            membership.user, membership.community = signed_in, community
    return member_checked(membership)


def member_checked(membership: Membership | None) -> Membership:
    """Return ``membership`` if it is approved, else raise ``Forbidden`` (None: not a member)."""
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


def manager_or_staff_require(
    user: User | AnonymousUser | Staff | None, community: Community
) -> Membership | Staff:
    """Return who may act as a manager of ``community``: staff in the admin, or a manager."""
    if isinstance(user, Staff):
        return staff_require(user)
    return manager_require(user, community)
