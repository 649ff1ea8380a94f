"""Read a published snapshot file, and hash its input the way the server hashes its own.

The file's form is described in docs/verifying-results.md. Reading checks only the shape;
whether the numbers are right is ``crowdvote_verify.check``'s job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from crowdvote_verify.model import (
    LOBBYIST,
    LOT,
    UNRESOLVED,
    VOTER,
    Ballot,
    Decision,
    Following,
    Member,
)

FORMAT = "crowdvote-snapshot/1"


class Unreadable(ValueError):
    """The file is not a published snapshot; the message says where it stops being one."""


@dataclass(frozen=True, slots=True)
class PublishedBallot:
    """A resolved ballot as the server's engine gave it: stars as 8-place strings."""

    is_delegated: bool
    tags: tuple[str, ...]
    stars: dict[str, str]


@dataclass(frozen=True, slots=True)
class Published:
    """What the file says: the input, the engine's ballots and result, labels and hashes."""

    title: str
    decision: Decision
    choice_titles: dict[str, str]
    member_names: dict[str, str]
    published_hash: str
    content_hash: str
    ballots: dict[str, PublishedBallot]
    result: Mapping[str, object]


def _object(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise Unreadable(f"{where}: expected an object")
    return value


def _list(doc: Mapping[str, object], key: str, where: str) -> list[object]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise Unreadable(f"{where}.{key}: expected a list")
    return value


def _str(doc: Mapping[str, object], key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str):
        raise Unreadable(f"{where}.{key}: expected a string")
    return value


def _int(doc: Mapping[str, object], key: str, where: str) -> int:
    value = doc.get(key)
    if type(value) is not int:
        raise Unreadable(f"{where}.{key}: expected an integer")
    return value


def _strs(doc: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    values = _list(doc, key, where)
    if not all(isinstance(v, str) for v in values):
        raise Unreadable(f"{where}.{key}: expected a list of strings")
    return tuple(str(v) for v in values)


def read_input(data: object) -> Decision:
    """Return the frozen decision of the ``input`` object (the engine's JSON form)."""
    doc = _object(data, "input")
    policy = _str(doc, "tieBreakPolicy", "input")
    if policy not in (LOT, UNRESOLVED):
        raise Unreadable(f"input.tieBreakPolicy: {policy!r} is not LOT or UNRESOLVED")
    choices = _strs(doc, "choices", "input")
    members = []
    for i, raw in enumerate(_list(doc, "members", "input")):
        m = _object(raw, f"input.members[{i}]")
        role = _str(m, "role", f"input.members[{i}]")
        if role not in (VOTER, LOBBYIST):
            raise Unreadable(f"input.members[{i}].role: {role!r} is not VOTER or LOBBYIST")
        members.append(Member(_str(m, "id", f"input.members[{i}]"), role))
    known = {m.id for m in members}
    if len(known) != len(members):
        raise Unreadable("input.members: a member id appears twice")
    followings = []
    for i, raw in enumerate(_list(doc, "followings", "input")):
        where = f"input.followings[{i}]"
        f = _object(raw, where)
        following = Following(
            _str(f, "follower", where),
            _str(f, "followee", where),
            frozenset(_strs(f, "tags", where)),
            _int(f, "order", where),
        )
        if not {following.follower, following.followee} <= known:
            raise Unreadable(f"{where}: names someone who is not a member")
        followings.append(following)
    ballots = []
    for i, raw in enumerate(_list(doc, "ballots", "input")):
        where = f"input.ballots[{i}]"
        b = _object(raw, where)
        stars = _object(b.get("stars"), f"{where}.stars")
        pairs = []
        for choice, value in stars.items():
            if choice not in choices or type(value) is not int or not 0 <= value <= 5:
                raise Unreadable(f"{where}.stars.{choice}: expected a choice and 0 to 5 stars")
            pairs.append((choice, value))
        member = _str(b, "member", where)
        if member not in known:
            raise Unreadable(f"{where}.member: {member!r} is not a member")
        ballots.append(Ballot(member, tuple(sorted(pairs)), frozenset(_strs(b, "tags", where))))
    return Decision(choices, tuple(members), tuple(followings), tuple(ballots), policy)


def canonical_text(decision: Decision) -> str:
    """Return the canonical JSON of a decision (docs/voting-rules.md, section 6).

    Every key and list sorted, every choice spelled out in ``stars``, no spaces, ASCII only.
    """
    choices = sorted(decision.choices)
    doc = {
        "ballots": [
            {
                "member": b.member,
                "stars": {c: dict(b.stars).get(c, 0) for c in choices},
                "tags": sorted(b.tags),
            }
            for b in sorted(decision.ballots, key=lambda b: b.member)
        ],
        "choices": choices,
        "followings": [
            {
                "followee": f.followee,
                "follower": f.follower,
                "order": f.order,
                "tags": sorted(f.tags),
            }
            for f in sorted(decision.followings, key=lambda f: (f.follower, f.followee))
        ],
        "members": [
            {"id": m.id, "role": m.role} for m in sorted(decision.members, key=lambda m: m.id)
        ],
        "tieBreakPolicy": decision.tie_break_policy,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_hash(decision: Decision) -> str:
    """Return the SHA-256 hex digest of :func:`canonical_text`."""
    return hashlib.sha256(canonical_text(decision).encode("ascii")).hexdigest()


def _ballots(doc: Mapping[str, object]) -> dict[str, PublishedBallot]:
    ballots: dict[str, PublishedBallot] = {}
    for i, raw in enumerate(_list(doc, "ballots", "file")):
        where = f"ballots[{i}]"
        b = _object(raw, where)
        delegated = b.get("isDelegated")
        if not isinstance(delegated, bool):
            raise Unreadable(f"{where}.isDelegated: expected true or false")
        stars = _object(b.get("stars"), f"{where}.stars")
        if not all(isinstance(v, str) for v in stars.values()):
            raise Unreadable(f"{where}.stars: expected 8-place strings")
        ballots[_str(b, "member", where)] = PublishedBallot(
            delegated, _strs(b, "tags", where), {str(c): str(v) for c, v in stars.items()}
        )
    return ballots


def read(text: str | bytes) -> Published:
    """Return the published snapshot in ``text``; raise Unreadable if it is not one."""
    try:
        doc = _object(json.loads(text), "file")
    except ValueError as error:
        raise Unreadable(f"not JSON: {error}") from None
    if doc.get("format") != FORMAT:
        raise Unreadable(f"format: expected {FORMAT!r}, got {doc.get('format')!r}")
    hashes = _object(doc.get("hashes"), "hashes")
    decision = _object(doc.get("decision"), "decision")
    choices = {}
    for i, raw in enumerate(_list(doc, "choices", "file")):
        c = _object(raw, f"choices[{i}]")
        choices[_str(c, "id", f"choices[{i}]")] = _str(c, "title", f"choices[{i}]")
    names = {}
    for i, raw in enumerate(_list(doc, "members", "file")):
        m = _object(raw, f"members[{i}]")
        names[_str(m, "key", f"members[{i}]")] = _str(m, "name", f"members[{i}]")
    return Published(
        title=_str(decision, "title", "decision"),
        decision=read_input(doc.get("input")),
        choice_titles=choices,
        member_names=names,
        published_hash=_str(hashes, "publishedHash", "hashes"),
        content_hash=_str(hashes, "contentHash", "hashes"),
        ballots=_ballots(doc),
        result=_object(doc.get("result"), "result"),
    )
