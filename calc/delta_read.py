"""Read what changed in a decision since a generation a worker keeps, as engine changes.

The change log (``calc.models.Change``) names the rows each generation touched; this module
reads those rows again, in one consistent read, and compares them with the kept input. A
log with a generation missing (pruned) or a change that names
no rows means: read the decision whole (``calc.snapshot.snapshot_read``).
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
from django.db import connection

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
from core.rows import all_rows, table
from democracy.models import (
    Ballot,
    BallotStar,
    Choice,
    Community,
    Decision,
    DecisionStatus,
    Membership,
)
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
        found = all_rows(_decision_sql(), [*calculated, generation, decision_id])
        if not found:
            return None
        status, now, community, tie_break_policy, known = found[0]
        choices: dict[int, str] = {
            row[0]: row[1] for row in all_rows(_choices_sql(), [decision_id])
        }
        if not known or tie_break_policy != kept.tie_break_policy.value:
            return None
        if sorted(map(str, choices)) != list(kept.choices):
            return None
        logged = all_rows(_log_sql(), [decision_id, generation, now])
        keys = _keys([(kind, member, other) for _, kind, member, other in logged])
        # A stamp gives a generation at least one change: one with none was pruned.
        if len({row[0] for row in logged}) != now - generation or keys is None:
            return None
        rows = _rows_now(keys, decision_id, community)
    return Delta(
        generation=now,
        status=DecisionStatus(status),
        changes=_changes(kept, keys, rows),
        choice_titles={str(pk): title for pk, title in choices.items()},
    )


# Written by hand: in a storm a worker reads a few changes several times a second, and the
# ORM spent more Python building these statements than the database spent running them.
@cache
def _decision_sql() -> str:
    """The decision's status, stamped generation, community and its tie-break policy, and
    whether the kept calculation is stored as kept."""
    return (
        "SELECT d.status, d.calc_requested_gen, d.community_id, c.tie_break_policy, "
        f"EXISTS (SELECT 1 FROM {table(Calculation)} k WHERE k.id = %s "
        "AND k.content_hash = %s AND k.generation = %s AND k.decision_id = d.id) "
        f"FROM {table(Decision)} d JOIN {table(Community)} c ON c.id = d.community_id "
        "WHERE d.id = %s"
    )


@cache
def _choices_sql() -> str:
    return f"SELECT id, title FROM {table(Choice)} WHERE decision_id = %s"


@cache
def _log_sql() -> str:
    return (
        f"SELECT generation, kind, member_id, other_id FROM {table(ChangeRow)} "
        "WHERE decision_id = %s AND generation > %s AND generation <= %s"
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


def _marks(values: Collection[object]) -> str:
    return ", ".join(["%s"] * len(values))


def _rows_now(keys: _Keys, decision_id: int, community: int) -> _Rows:
    rows = _Rows(roles={}, followings={}, ballots={})
    if keys.members:
        approved = all_rows(
            f"SELECT id, role FROM {table(Membership)} WHERE community_id = %s "
            f"AND is_approved = %s AND id IN ({_marks(keys.members)})",
            [community, True, *keys.members],
        )
        rows.roles = {row[0]: row[1] for row in approved}
    if keys.members or keys.followings:
        rows.followings = _followings_now(keys, community)
    voters = keys.ballots | keys.members
    if voters:
        rows.ballots = _ballots(decision_id, voters)
    return rows


def _followings_now(keys: _Keys, community: int) -> dict[Pair, tuple[frozenset[str], int]]:
    """The followings that touch a changed member, or that changed themselves."""
    wanted, params = [], []
    if keys.members:
        marks = _marks(keys.members)
        wanted.append(f"follower_id IN ({marks}) OR followee_id IN ({marks})")
        params += [*keys.members, *keys.members]
    if keys.followings:
        followers = {f for f, _ in keys.followings}
        followees = {g for _, g in keys.followings}
        wanted.append(
            f"follower_id IN ({_marks(followers)}) AND followee_id IN ({_marks(followees)})"
        )
        params += [*followers, *followees]
    order = connection.ops.quote_name("order")
    found = all_rows(
        f"SELECT follower_id, followee_id, tags, {order} FROM {table(FollowingRow)} "
        f"WHERE community_id = %s AND ({' OR '.join(f'({w})' for w in wanted)})",
        [community, *params],
    )
    return {
        (f, g): (frozenset(_tags(tags)), order)
        for f, g, tags, order in found
        if (f, g) in keys.followings or f in keys.members or g in keys.members
    }


def _ballots(
    decision_id: int, voters: set[int]
) -> dict[int, tuple[dict[str, int], frozenset[str]]]:
    """Return the ballots of ``voters`` on the decision: stars by choice id, and tags."""
    found = all_rows(
        f"SELECT b.membership_id, b.tags, s.choice_id, s.stars FROM {table(Ballot)} b "
        f"LEFT JOIN {table(BallotStar)} s ON s.ballot_id = b.id "
        f"WHERE b.decision_id = %s AND b.membership_id IN ({_marks(voters)})",
        [decision_id, *voters],
    )
    ballots: dict[int, tuple[dict[str, int], frozenset[str]]] = {}
    for member, tags, choice, stars in found:
        rated, _ = ballots.setdefault(member, ({}, frozenset(_tags(tags))))
        if choice is not None:
            rated[str(choice)] = stars
    return ballots


def _tags(value: str | list[str]) -> list[str]:
    """A row's tags: JSON, which the drivers hand over as text here (as the ORM reads it)."""
    return json.loads(value) if isinstance(value, str) else value


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
