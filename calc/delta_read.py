"""Read what changed in a decision since a generation a worker keeps, as engine changes.

The change log (``calc.models.Change``) names the rows each generation touched; this module
reads those rows again, in one consistent read, and compares them with the kept input. A
log with a generation missing (pruned) or a change that names
no rows means: read the decision whole (``calc.snapshot.snapshot_read``).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from django.db.models import Q

from calc.engine import DirectBallot, Following, Member, Role
from calc.engine.incremental import (
    BallotCast,
    BallotRetracted,
    Change,
    FollowingRemoved,
    FollowingSet,
    MemberJoined,
    MemberLeft,
    RoleChanged,
)
from calc.models import Calculation, ChangeKind
from calc.models import Change as ChangeRow
from calc.snapshot import one_moment
from democracy.models import Ballot, BallotStar, Choice, Decision, DecisionStatus, Membership
from democracy.models import Following as FollowingRow

if TYPE_CHECKING:
    from calc.engine import DecisionColumns

Pair = tuple[int, int]
Stars = tuple[int, ...]
BallotNow = tuple[dict[str, int], frozenset[str]]  # stars by choice id, tags


@dataclass(frozen=True, slots=True)
class Delta:
    """The changes since the kept generation, and the decision as of ``generation``."""

    generation: int
    status: DecisionStatus
    changes: list[Change]
    choice_titles: dict[str, str]


@dataclass(slots=True)
class _Keys:
    ballots: set[int] = field(default_factory=set)
    followings: set[Pair] = field(default_factory=set)
    members: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _Rows:
    """The touched rows as they are now: approved members only, as a whole read sees them."""

    roles: dict[int, str]  # the touched members still approved here
    followings: dict[Pair, tuple[frozenset[str], int]]
    ballots: dict[int, BallotNow]


def delta_read(
    decision_id: int, kept: DecisionColumns, generation: int, calculated: tuple[int, str]
) -> Delta | None:
    """Return the changes turning ``kept`` (the input at ``generation``) into the current one.

    None when the decision must be read whole. ``kept`` is in id order, as a state keeps it;
    ``calculated`` is the calculation that stored it and its content hash: if that is not
    in the database as kept (a database restored, or emptied by a test), neither is the
    log the state would follow.
    """
    with one_moment():
        decision = Decision.objects.select_related("community").get(pk=decision_id)
        choices = dict(Choice.objects.filter(decision_id=decision_id).values_list("id", "title"))
        if decision.community.tie_break_policy != kept.tie_break_policy.value or sorted(
            map(str, choices)
        ) != list(kept.choices):
            return None
        now = decision.calc_requested_gen
        calculation, content_hash = calculated
        known = Calculation.objects.filter(
            pk=calculation, decision_id=decision_id, generation=generation
        ).filter(content_hash=content_hash)
        if not known.exists():
            return None
        logged = list(
            ChangeRow.objects.filter(
                decision_id=decision_id, generation__gt=generation, generation__lte=now
            ).values_list("generation", "kind", "member_id", "other_id")
        )
        keys = _keys([row[1:] for row in logged])
        # A stamp gives a generation at least one change: one with none was pruned.
        if len({row[0] for row in logged}) != now - generation or keys is None:
            return None
        rows = _rows_now(keys, decision)
    return Delta(
        generation=now,
        status=DecisionStatus(decision.status),
        changes=_changes(kept, keys, rows),
        choice_titles={str(pk): title for pk, title in choices.items()},
    )


def _keys(logged: list[tuple[str, int | None, int | None]]) -> _Keys | None:
    keys = _Keys()
    for kind, member, other in logged:
        if member is None or kind == ChangeKind.WHOLE:
            return None
        if kind == ChangeKind.BALLOT:
            keys.ballots.add(member)
        elif kind == ChangeKind.MEMBERSHIP:
            keys.members.add(member)
        elif kind == ChangeKind.FOLLOWING and other is not None:
            keys.followings.add((member, other))
        else:
            return None
    return keys


def _rows_now(keys: _Keys, decision: Decision) -> _Rows:
    community = decision.community_id
    rows = _Rows(roles={}, followings={}, ballots={})
    if keys.members:
        rows.roles = dict(
            Membership.objects.filter(
                pk__in=keys.members, community_id=community, is_approved=True
            ).values_list("pk", "role")
        )
    if keys.members or keys.followings:
        touching = Q(follower_id__in=keys.members) | Q(followee_id__in=keys.members)
        named = Q(
            follower_id__in={f for f, _ in keys.followings},
            followee_id__in={g for _, g in keys.followings},
        )
        rows.followings = {
            (f, g): (frozenset(tags), order)
            for f, g, tags, order in FollowingRow.objects.filter(community_id=community)
            .filter(touching | named)
            .values_list("follower_id", "followee_id", "tags", "order")
            if (f, g) in keys.followings or f in keys.members or g in keys.members
        }
    voters = keys.ballots | keys.members
    if voters:
        rows.ballots = _ballots(decision.pk, voters)
    return rows


def _ballots(
    decision_id: int, voters: set[int]
) -> dict[int, tuple[dict[str, int], frozenset[str]]]:
    """Return the ballots of ``voters`` on the decision: stars by choice id, and tags."""
    ballots = {
        pk: (member, frozenset(tags))
        for pk, member, tags in Ballot.objects.filter(
            decision_id=decision_id, membership_id__in=voters
        ).values_list("pk", "membership_id", "tags")
    }
    stars: dict[int, dict[str, int]] = {pk: {} for pk in ballots}
    if ballots:
        rated = BallotStar.objects.filter(ballot_id__in=ballots)
        for ballot, choice, value in rated.values_list("ballot_id", "choice_id", "stars"):
            stars[ballot][str(choice)] = value
    return {member: (stars[pk], tags) for pk, (member, tags) in ballots.items()}


class _Kept:
    """Lookups in the kept input by membership id."""

    def __init__(self, columns: DecisionColumns) -> None:
        self.columns = columns
        self.ids = columns.member_ids

    def row(self, member: int) -> int | None:
        key = str(member)
        i = bisect_left(self.ids, key)
        return i if i < len(self.ids) and self.ids[i] == key else None

    def following(self, pair: Pair) -> tuple[frozenset[str], int] | None:
        src, dst = self.row(pair[0]), self.row(pair[1])
        if src is None or dst is None:
            return None
        c = self.columns
        lo, hi = np.searchsorted(c.follow_src, [src, src + 1])
        at = lo + int(np.searchsorted(c.follow_dst[lo:hi], dst))
        if at >= hi or int(c.follow_dst[at]) != dst:
            return None
        return c.follow_tag_sets[int(c.follow_tag_code[at])], int(c.follow_order[at])

    def pairs_touching(self, member: int) -> set[Pair]:
        row = self.row(member)
        if row is None:
            return set()
        c = self.columns
        at = np.flatnonzero((c.follow_src == row) | (c.follow_dst == row))
        ids = self.ids
        return {
            (int(ids[s]), int(ids[d]))
            for s, d in zip(c.follow_src[at].tolist(), c.follow_dst[at].tolist(), strict=True)
        }

    def ballot(self, member: int) -> tuple[Stars, frozenset[str]] | None:
        row = self.row(member)
        if row is None:
            return None
        c = self.columns
        at = int(np.searchsorted(c.ballot_member, row))
        if at >= c.ballot_member.size or int(c.ballot_member[at]) != row:
            return None
        stars = tuple(int(v) for v in c.ballot_stars[at].tolist())
        return stars, c.ballot_tag_sets[int(c.ballot_tag_code[at])]


def _changes(columns: DecisionColumns, keys: _Keys, now: _Rows) -> list[Change]:
    """Return the engine changes from the kept rows to ``now``: members first, then
    followings, then ballots, so each names only members present when it applies.
    """
    kept = _Kept(columns)
    changes: list[Change] = []
    gone: set[int] = set()
    for member in sorted(keys.members):
        row, role = kept.row(member), now.roles.get(member)
        if role is None:
            if row is not None:
                changes.append(MemberLeft(str(member)))
            gone.add(member)
        elif row is None:
            changes.append(MemberJoined(Member(str(member), Role(role))))
        elif bool(columns.is_voter[row]) != (role != Role.LOBBYIST):
            changes.append(RoleChanged(str(member), Role(role)))

    def present(member: int) -> bool:
        return member in now.roles if member in keys.members else kept.row(member) is not None

    pairs = set(keys.followings) | set(now.followings)
    for member in keys.members - gone:
        pairs |= kept.pairs_touching(member)
    for pair in sorted(pairs):
        if pair[0] in gone or pair[1] in gone:
            continue  # a member who left takes their followings along
        before = kept.following(pair)
        after = now.followings.get(pair) if present(pair[0]) and present(pair[1]) else None
        if after == before:
            continue
        follower, followee = map(str, pair)
        if after is None:
            changes.append(FollowingRemoved(follower, followee))
        else:
            changes.append(FollowingSet(Following(follower, followee, *after)))
    for member in sorted((keys.ballots | keys.members) - gone):
        had = kept.ballot(member)
        has = now.ballots.get(member) if present(member) else None
        if has is None:
            if had is not None:
                changes.append(BallotRetracted(str(member)))
            continue
        stars, tags = has
        if had != (tuple(stars.get(c, 0) for c in columns.choices), tags):
            changes.append(BallotCast(DirectBallot.of(str(member), stars, tags)))
    return changes
