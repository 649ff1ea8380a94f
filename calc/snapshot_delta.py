"""The changes a snapshot stores when it is kept as what changed since the previous one.

JSON, one array per change, zlib-compressed: a ballot's stars by choice id, tags sorted, so
the same changes always give the same bytes.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from typing import Any

from calc.engine import DirectBallot, EngineInputError, Following, Member, Role
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

COMPRESSION_LEVEL = 6  # deltas are small: compress them well


def _encoded(change: Change) -> list[Any]:
    if isinstance(change, BallotCast):
        ballot = change.ballot
        return ["cast", ballot.member, [list(p) for p in ballot.stars], sorted(ballot.tags)]
    if isinstance(change, BallotRetracted):
        return ["retract", change.member]
    if isinstance(change, FollowingSet):
        f = change.following
        return ["follow", f.follower, f.followee, sorted(f.tags), f.order]
    if isinstance(change, FollowingRemoved):
        return ["unfollow", change.follower, change.followee]
    if isinstance(change, MemberJoined):
        return ["join", change.member.id, change.member.role.value]
    if isinstance(change, MemberLeft):
        return ["leave", change.member]
    return ["role", change.member, change.role.value]


def _decoded(item: list[Any]) -> Change:
    match item:
        case ["cast", str(member), list(stars), list(tags)]:
            return BallotCast(DirectBallot.of(member, [(c, s) for c, s in stars], tags))
        case ["retract", str(member)]:
            return BallotRetracted(member)
        case ["follow", str(follower), str(followee), list(tags), int(order)]:
            return FollowingSet(Following(follower, followee, frozenset(tags), order))
        case ["unfollow", str(follower), str(followee)]:
            return FollowingRemoved(follower, followee)
        case ["join", str(member), str(role)]:
            return MemberJoined(Member(member, Role(role)))
        case ["leave", str(member)]:
            return MemberLeft(member)
        case ["role", str(member), str(role)]:
            return RoleChanged(member, Role(role))
    raise EngineInputError(f"not a stored change: {item!r}")


def changes_pack(changes: Sequence[Change]) -> bytes:
    """Return ``changes`` as stored bytes."""
    text = json.dumps([_encoded(c) for c in changes], separators=(",", ":"))
    return zlib.compress(text.encode("ascii"), COMPRESSION_LEVEL)


def changes_unpack(blob: bytes | memoryview) -> list[Change]:
    """Return the changes stored by :func:`changes_pack`; EngineInputError if malformed."""
    items = json.loads(zlib.decompress(bytes(blob)))
    if not isinstance(items, list):
        raise EngineInputError("stored changes must be a list")
    return [_decoded(item) for item in items]
