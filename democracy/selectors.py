"""Read-only queries over communities and decisions, with visibility rules."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from django.db.models import Exists, OuterRef, Q, QuerySet

from core.rows import all_rows, columns, instances, table, width
from democracy.models import (
    Ballot,
    Choice,
    Community,
    Decision,
    DecisionStatus,
    Membership,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User


def community_list() -> QuerySet[Community]:
    """Return every community: names and descriptions are a public directory."""
    return Community.objects.all()


def inside_visible_to(user: User | AnonymousUser | None) -> Q:
    """Return a filter on any model with a ``community``: what ``user`` may see inside.

    Approved members see their community's members and decisions; anyone sees those of a
    community whose results are public.
    """
    public = Q(community__results_are_public=True)
    if user is None or not user.is_authenticated:
        return public
    member = Exists(
        Membership.objects.filter(
            community_id=OuterRef("community_id"), user_id=user.pk, is_approved=True
        )
    )
    return public | Q(member)


def _manages_community(user: User) -> Exists:
    return Exists(
        Membership.objects.filter(
            community_id=OuterRef("community_id"),
            user_id=user.pk,
            is_manager=True,
            is_approved=True,
        )
    )


def decision_visible_to(user: User | AnonymousUser | None) -> Q:
    """Return a filter on decisions: those ``user`` may see.

    Drafts are work in progress of the community's managers: only they see them, wherever a
    decision can be reached (lists, ``node``, subscriptions).
    """
    published = ~Q(status=DecisionStatus.DRAFT)
    if user is None or not user.is_authenticated:
        return inside_visible_to(user) & published
    return inside_visible_to(user) & (published | Q(_manages_community(user)))


@dataclass(frozen=True, slots=True)
class BallotTarget:
    """A decision as a ballot on it needs it: its community loaded, its choices in order, and
    the voter's membership in its community (None if they have none)."""

    decision: Decision
    choices: list[Choice]
    membership: Membership | None


def ballot_target(pk: int, user: User) -> BallotTarget | None:
    """Return the decision ``pk`` as ``user``'s ballot on it needs it, or None if unknown.

    One hand-written statement (``core.rows``), prepared on PostgreSQL: a ballot storm
    loads one per ballot, and each statement saved is a round trip and its Python. Its first
    row is the decision with its community and the membership, each further row a choice: a
    join would repeat the decision's columns on every choice's row, and each timestamp read
    costs Python.
    """
    rows = all_rows(_ballot_target_sql(), [user.pk, pk, pk], prepared="crowdvote_ballot_target")
    if not rows or rows[0][0] != 0:
        return None
    head = 1 + width(Decision) + width(Community) + width(Membership)
    ((decision, community, membership),) = instances(
        (Decision, Community, Membership), [rows[0][1:head]]
    )
    decision.community = community
    if membership is not None:
        membership.user, membership.community = user, community
    choices = [choice for (choice,) in instances((Choice,), [row[head:] for row in rows[1:]])]
    for choice in choices:
        choice.decision = decision
    return BallotTarget(decision, choices, membership)


def _nulls(count: int) -> str:
    return ", ".join(["NULL"] * count)


@cache
def _ballot_target_sql() -> str:
    # The row kind (0: the decision, 1: a choice) sorts the decision's row first.
    before_choice = width(Decision) + width(Community) + width(Membership)
    return (
        f"SELECT 0 AS kind, {columns(Decision, 'd')}, {columns(Community, 'c')}, "
        f"{columns(Membership, 'm')}, {_nulls(width(Choice))}, 0 AS sort_position, 0 AS sort_id "
        f"FROM {table(Decision)} d JOIN {table(Community)} c ON c.id = d.community_id "
        f"LEFT JOIN {table(Membership)} m ON m.community_id = c.id AND m.user_id = %s "
        "WHERE d.id = %s "
        f"UNION ALL SELECT 1, {_nulls(before_choice)}, {columns(Choice, 'ch')}, ch.position, ch.id "
        f"FROM {table(Choice)} ch WHERE ch.decision_id = %s "
        "ORDER BY 1, sort_position, sort_id"
    )


def decision_list_visible(user: User | AnonymousUser | None) -> QuerySet[Decision]:
    """Return the decisions ``user`` may see."""
    return Decision.objects.filter(decision_visible_to(user))


def membership_visible_to(user: User | AnonymousUser | None) -> Q:
    """Return a filter on memberships: those ``user`` may see.

    Approved members are seen like the rest of the community's inside; a pending one only by
    its own user and the community's managers, who decide on it.
    """
    approved = Q(is_approved=True) & inside_visible_to(user)
    if user is None or not user.is_authenticated:
        return approved
    return approved | Q(user_id=user.pk) | Q(_manages_community(user))


def following_visible_to(user: User | AnonymousUser | None) -> Q:
    """Return a filter on followings: those ``user`` may see, both ends included.

    Un-approving a followed member hides their membership from the community; a following
    still pointing at it would point at no one the viewer may see.
    """
    if user is None or not user.is_authenticated:
        return inside_visible_to(user) & Q(follower__is_approved=True, followee__is_approved=True)
    follower = Q(follower__is_approved=True) | Q(follower__user_id=user.pk)
    followee = Q(followee__is_approved=True) | Q(followee__user_id=user.pk)
    return inside_visible_to(user) & ((follower & followee) | Q(_manages_community(user)))


def can_see_community_inside(user: User | AnonymousUser | None, community: Community) -> bool:
    """Return whether ``user`` may see the members and decisions of ``community``."""
    if community.results_are_public:
        return True
    if user is None or not user.is_authenticated:
        return False
    return Membership.objects.filter(
        community_id=community.pk, user_id=user.pk, is_approved=True
    ).exists()


def ballot_for(user: User | AnonymousUser | None, decision: Decision) -> Ballot | None:
    """Return the user's own direct ballot on ``decision``, or None."""
    if user is None or not user.is_authenticated:
        return None
    return (
        Ballot.objects.filter(decision_id=decision.pk, membership__user_id=user.pk)
        .prefetch_related("stars__choice")
        .first()
    )
