"""Join, leave, approve, and change a member's role, manager flag or anonymity."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from core.errors import DomainError, Forbidden
from core.logs import Event, log_event
from democracy import errors
from democracy.access import (
    Staff,
    actor_name,
    member_require,
    membership_of,
    staff_require,
    user_require,
)
from democracy.errors import DemocracyErrorCode
from democracy.models import Community, Membership, Role
from democracy.pseudonyms import display_name

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User


@transaction.atomic
def membership_join(
    *,
    user: User | AnonymousUser | None,
    community: Community,
    role: Role = Role.VOTER,
    is_anonymous: bool = False,
) -> Membership:
    """Join ``community``; without auto-approval the membership waits for a manager.

    Joining anonymously hides the username from the first moment, the join's log line too.
    """
    joiner = user_require(user)
    community = Community.objects.select_for_update().get(pk=community.pk)
    if membership_of(joiner, community) is not None:
        raise DomainError(
            DemocracyErrorCode.ALREADY_MEMBER, errors.ALREADY_MEMBER, field="communityId"
        )
    membership = Membership(
        user=joiner,
        community=community,
        role=role,
        is_anonymous=is_anonymous,
        is_approved=community.auto_approve_applications,
    )
    if role == Role.LOBBYIST and is_anonymous:
        raise DomainError(
            DemocracyErrorCode.LOBBYIST_CANNOT_BE_ANONYMOUS,
            errors.LOBBYIST_ANONYMOUS,
            field="isAnonymous",
        )
    membership.full_clean()
    membership.save()
    event = Event.MEMBER_JOINED if membership.is_approved else Event.MEMBER_APPLIED
    verb = "joined" if membership.is_approved else "applied to join"
    log_event(event, display_name(membership), f"Member {verb} '{community.name}' as {role}")
    return membership


def _community_lock(community_id: int) -> None:
    """Lock the community row: manager checks and membership changes then run one at a time.

    Without it two managers leaving (or demoting each other) at once each see the other as
    the remaining manager, and both succeed. SQLite serialises writers anyway; on PostgreSQL
    this row lock does.
    """
    Community.objects.select_for_update().filter(pk=community_id).values_list("pk").first()


def _other_managers(membership: Membership) -> bool:
    """Return whether another approved manager could still act for the community."""
    return (
        Membership.objects.filter(
            community_id=membership.community_id, is_manager=True, is_approved=True
        )
        .exclude(pk=membership.pk)
        .exists()
    )


def _others_remain(membership: Membership) -> bool:
    return (
        Membership.objects.filter(community_id=membership.community_id)
        .exclude(pk=membership.pk)
        .exists()
    )


@transaction.atomic
def membership_leave(*, user: User | AnonymousUser | None, community: Community) -> None:
    """Leave ``community``: the membership, its followings and its ballots are removed.

    The last manager cannot leave while others remain: they promote someone first.
    """
    user_require(user)
    _community_lock(community.pk)
    membership = membership_of(user, community)
    if membership is None:
        raise Forbidden(errors.NOT_A_MEMBER)
    if membership.is_manager and not _other_managers(membership) and _others_remain(membership):
        raise DomainError(DemocracyErrorCode.LAST_MANAGER, errors.LAST_MANAGER, field="communityId")
    name = display_name(membership)
    membership.delete()
    log_event(Event.MEMBER_LEFT, name, f"Member left '{community.name}'")


def _flags(membership: Membership) -> tuple[str, bool, bool, bool]:
    return (membership.role, membership.is_manager, membership.is_anonymous, membership.is_approved)


@transaction.atomic
def membership_update(
    *,
    user: User | AnonymousUser | Staff | None,
    membership: Membership,
    role: Role | None = None,
    is_manager: bool | None = None,
    is_anonymous: bool | None = None,
    is_approved: bool | None = None,
) -> Membership:
    """Change a membership; None leaves a field as it is.

    Members choose their own role and anonymity; managers may change anyone's role and
    grant or withdraw the manager flag and approval. Anonymity is only ever one's own choice.
    Staff in the admin may do what managers may.
    """
    _community_lock(membership.community_id)
    actor: Membership | Staff
    if isinstance(user, Staff):
        actor = staff_require(user)
    else:
        actor = member_require(user, membership.community)
    membership = (
        Membership.objects.select_for_update()
        .select_related("user", "community")
        .get(pk=membership.pk)
    )
    is_self = isinstance(actor, Membership) and actor.pk == membership.pk
    manages = isinstance(actor, Staff) or actor.is_manager
    if is_anonymous is not None and not is_self:
        raise Forbidden(errors.NOT_YOURS)
    if (is_manager is not None or is_approved is not None or not is_self) and not manages:
        raise Forbidden(errors.NOT_A_MANAGER if is_self else errors.NOT_YOURS)

    before = _flags(membership)
    # Losing the flag or the approval both leave the community without an acting manager.
    losing = "isManager" if is_manager is False else "isApproved" if is_approved is False else None
    acting_manager = membership.is_manager and membership.is_approved
    if losing and acting_manager and not _other_managers(membership):
        message = errors.LAST_MANAGER if is_self else errors.THEIR_LAST_MANAGER
        raise DomainError(DemocracyErrorCode.LAST_MANAGER, message, field=losing)
    membership.role = role if role is not None else membership.role
    membership.is_manager = is_manager if is_manager is not None else membership.is_manager
    membership.is_anonymous = is_anonymous if is_anonymous is not None else membership.is_anonymous
    membership.is_approved = is_approved if is_approved is not None else membership.is_approved
    if membership.role == Role.LOBBYIST and membership.is_anonymous:
        field = "isAnonymous" if is_anonymous else "role"
        raise DomainError(
            DemocracyErrorCode.LOBBYIST_CANNOT_BE_ANONYMOUS, errors.LOBBYIST_ANONYMOUS, field=field
        )
    membership.full_clean()
    membership.save()
    if _flags(membership) != before:
        # The actor's name is taken after the change, so going anonymous is logged anonymously.
        _log_change(membership if is_self else actor, membership, before_approved=before[3])
    return membership


def _log_change(
    actor: Membership | Staff, membership: Membership, *, before_approved: bool
) -> None:
    community = membership.community.name
    if membership.is_approved and not before_approved:
        log_event(
            Event.MEMBER_APPROVED,
            actor_name(actor),
            f"Approved {display_name(membership)} in '{community}'",
        )
        return
    flags = [str(membership.role)]
    flags += ["manager"] if membership.is_manager else []
    flags += ["anonymous"] if membership.is_anonymous else []
    flags += [] if membership.is_approved else ["not approved"]
    log_event(
        Event.MEMBERSHIP_CHANGED,
        actor_name(actor),
        f"Membership of {display_name(membership)} in '{community}' is now {', '.join(flags)}",
    )
