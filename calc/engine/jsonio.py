"""The frozen decision's JSON form: parse, canonical dump, content hash.

The form is described in docs/voting-rules.md, "What a result holds, and the frozen input".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from calc.engine.columns import DecisionColumns, decision_columns
from calc.engine.types import (
    DirectBallot,
    EngineInputError,
    Following,
    FrozenDecision,
    Member,
    Role,
    TieBreakPolicy,
)
from calc.engine.validation import index_columns, index_decision

if TYPE_CHECKING:
    import numpy.typing as npt

    from calc.engine.columns import Decision
    from calc.engine.validation import Indexed

    IntArray = npt.NDArray[np.int64]


class MemberJson(TypedDict):
    id: str
    role: str


class FollowingJson(TypedDict):
    follower: str
    followee: str
    tags: list[str]
    order: int


class BallotJson(TypedDict):
    member: str
    tags: list[str]
    stars: dict[str, int]


class DecisionJson(TypedDict):
    choices: list[str]
    tieBreakPolicy: str
    members: list[MemberJson]
    followings: list[FollowingJson]
    ballots: list[BallotJson]


def _need(obj: object, key: str, kind: type | tuple[type, ...], where: str) -> object:
    if not isinstance(obj, Mapping):
        raise EngineInputError(f"{where}: expected an object")
    if key not in obj:
        raise EngineInputError(f"{where}: missing {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise EngineInputError(f"{where}.{key}: wrong type {type(value).__name__}")
    return value


def _str_list(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EngineInputError(f"{where}: expected a list of strings")
    return value


def _document(data: str | bytes | Mapping[str, object]) -> Mapping[str, object]:
    if isinstance(data, str | bytes):
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise EngineInputError(f"not valid JSON: {exc}") from None
    else:
        doc = data
    if not isinstance(doc, Mapping):
        raise EngineInputError("decision: expected a JSON object")
    return doc


def decision_from_json(data: str | bytes | Mapping[str, object]) -> FrozenDecision:
    """Return the decision described by the JSON form; EngineInputError names what is wrong.

    Unknown fields are ignored; the result is validated like any engine input.
    """
    decision = _read_objects(_document(data))
    index_decision(decision)
    return decision


def _int_array(values: list[int]) -> IntArray:
    return np.array(values, dtype=np.int64)


class _Irregular(Exception):
    """The column reader met something only the checking reader can name."""


def columns_from_json(data: str | bytes | Mapping[str, object]) -> DecisionColumns:
    """Return the decision described by the JSON form as validated columns.

    A well-formed document is read column by column (a few times faster than objects at
    100,000 members); anything irregular is read again by ``decision_from_json``'s checking
    reader, so errors name the item exactly as it does.
    """
    doc = _document(data)
    try:
        columns = _read_columns(doc)
    except (_Irregular, KeyError, TypeError, AttributeError, ValueError, OverflowError):
        return decision_columns(_read_objects(doc))
    index_columns(columns)
    return columns


def _tag_column(raw: list[list[str]]) -> tuple[tuple[frozenset[str], ...], IntArray]:
    """Return the distinct tag sets and each item's position among them; refuse non-lists."""
    if not set(map(type, raw)) <= {list}:
        raise _Irregular
    position: dict[tuple[str, ...], int] = {}
    codes = [position.setdefault(key, len(position)) for key in map(tuple, raw)]
    if not all(type(t) is str for key in position for t in key):
        raise _Irregular
    return tuple(frozenset(key) for key in position), _int_array(codes)


def _read_columns(doc: Mapping[str, object]) -> DecisionColumns:
    """Read a well-formed document into columns; raise _Irregular (or a lookup error) else."""
    choices, members = doc["choices"], doc["members"]
    followings, ballots = doc.get("followings", []), doc.get("ballots", [])
    policy = doc.get("tieBreakPolicy", TieBreakPolicy.LOT.value)
    if (
        not isinstance(choices, list)
        or not isinstance(members, list)
        or not isinstance(followings, list)
        or not isinstance(ballots, list)
    ):
        raise _Irregular
    if policy not in {p.value for p in TieBreakPolicy} or not set(map(type, choices)) <= {str}:
        raise _Irregular
    ids = [m["id"] for m in members]
    roles = [m["role"] for m in members]
    row_of = dict(zip(ids, range(len(ids)), strict=True))
    known_roles = {r.value for r in Role}
    if not set(map(type, ids)) <= {str} or not set(roles) <= known_roles or len(row_of) < len(ids):
        raise _Irregular
    orders = [f.get("order", 1) for f in followings]
    if not set(map(type, orders)) <= {int}:
        raise _Irregular
    follow_sets, follow_codes = _tag_column([f.get("tags", []) for f in followings])
    star_maps = [b["stars"] for b in ballots]
    if not set(map(type, star_maps)) <= {dict}:
        raise _Irregular
    column_of = {c: j for j, c in enumerate(choices)}
    values = [v for stars in star_maps for v in stars.values()]
    if not set(map(type, values)) <= {int}:
        raise _Irregular
    owner = np.repeat(np.arange(len(ballots)), [len(stars) for stars in star_maps])
    stars = np.zeros((len(ballots), len(choices)), dtype=np.int64)
    stars[owner, [column_of[c] for one in star_maps for c in one]] = np.array(values, np.int64)
    ballot_sets, ballot_codes = _tag_column([b.get("tags", []) for b in ballots])
    return DecisionColumns(
        choices=tuple(choices),
        member_ids=tuple(ids),
        is_voter=np.array([role == Role.VOTER.value for role in roles], dtype=np.bool_),
        follow_src=_int_array([row_of[f["follower"]] for f in followings]),
        follow_dst=_int_array([row_of[f["followee"]] for f in followings]),
        follow_tag_sets=follow_sets,
        follow_tag_code=follow_codes,
        follow_order=_int_array(orders),
        ballot_member=_int_array([row_of[b["member"]] for b in ballots]),
        ballot_stars=stars,
        ballot_tag_sets=ballot_sets,
        ballot_tag_code=ballot_codes,
        tie_break_policy=TieBreakPolicy(policy),
    )


def _read_objects(doc: Mapping[str, object]) -> FrozenDecision:
    """Read the document item by item, naming the first item that is wrong."""
    choices = _str_list(_need(doc, "choices", list, "decision"), "choices")
    policy_raw = doc.get("tieBreakPolicy", TieBreakPolicy.LOT.value)
    if policy_raw not in {p.value for p in TieBreakPolicy}:
        raise EngineInputError(f"tieBreakPolicy: {policy_raw!r} is not LOT or UNRESOLVED")
    members_raw = _need(doc, "members", list, "decision")
    assert isinstance(members_raw, list)
    followings_raw = doc.get("followings", [])
    ballots_raw = doc.get("ballots", [])
    if not isinstance(followings_raw, list) or not isinstance(ballots_raw, list):
        raise EngineInputError("decision: followings and ballots must be lists")
    members = []
    for i, m in enumerate(members_raw):
        where = f"members[{i}]"
        role = _need(m, "role", str, where)
        if role not in {r.value for r in Role}:
            raise EngineInputError(f"{where}.role: {role!r} is not VOTER or LOBBYIST")
        members.append(Member(str(_need(m, "id", str, where)), Role(role)))
    followings = []
    for i, f in enumerate(followings_raw):
        where = f"followings[{i}]"
        order = f.get("order", 1) if isinstance(f, Mapping) else None
        if not isinstance(order, int) or isinstance(order, bool):
            raise EngineInputError(f"{where}.order: expected an integer")
        tags = _str_list(f.get("tags", []), f"{where}.tags")
        followings.append(
            Following(
                str(_need(f, "follower", str, where)),
                str(_need(f, "followee", str, where)),
                frozenset(tags),
                order,
            )
        )
    ballots = []
    for i, b in enumerate(ballots_raw):
        where = f"ballots[{i}]"
        stars = _need(b, "stars", dict, where)
        for c, v in stars.items():  # type: ignore[attr-defined]
            if not isinstance(v, int) or isinstance(v, bool):
                raise EngineInputError(f"{where}.stars.{c}: expected an integer 0-5, got {v!r}")
        tags = _str_list(b.get("tags", []), f"{where}.tags")
        ballots.append(
            DirectBallot.of(str(_need(b, "member", str, where)), dict(stars), frozenset(tags))  # type: ignore[call-overload]
        )
    return FrozenDecision(
        choices=tuple(choices),
        members=tuple(members),
        followings=tuple(followings),
        ballots=tuple(ballots),
        tie_break_policy=TieBreakPolicy(policy_raw),
    )


def decision_as_object(decision: FrozenDecision) -> DecisionJson:
    """Return the canonical JSON object: every list sorted, every choice given in stars."""
    choices = sorted(decision.choices)
    return {
        "choices": choices,
        "tieBreakPolicy": decision.tie_break_policy.value,
        "members": [
            {"id": m.id, "role": m.role.value} for m in sorted(decision.members, key=lambda m: m.id)
        ],
        "followings": [
            {
                "follower": f.follower,
                "followee": f.followee,
                "tags": sorted(f.tags),
                "order": f.order,
            }
            for f in sorted(decision.followings, key=lambda f: (f.follower, f.followee))
        ],
        "ballots": [
            {
                "member": b.member,
                "tags": sorted(b.tags),
                "stars": {c: int(dict(b.stars).get(c, 0)) for c in choices},
            }
            for b in sorted(decision.ballots, key=lambda b: b.member)
        ],
    }


def decision_to_json(decision: Decision, *, indexed: Indexed | None = None) -> str:
    """Return the canonical JSON text (sorted keys and lists, no spaces, ASCII only).

    Two decisions with the same content give the same text whatever their tuple orders.
    ``indexed`` is ``index_decision(decision)`` when the caller already has it (it validates).
    The text equals ``json.dumps(decision_as_object(decision), sort_keys=True,
    separators=(",", ":"))`` but is written directly, which is several times faster.
    """
    ix = index_decision(decision) if indexed is None else indexed
    enc = encode_basestring_ascii
    ids = list(map(enc, ix.member_ids))
    choice_keys = list(map(enc, ix.choice_ids))
    voter = f',"role":"{Role.VOTER.value}"}}'
    lobbyist = f',"role":"{Role.LOBBYIST.value}"}}'
    members = ",".join(
        [
            '{"id":' + i + (voter if v else lobbyist)
            for i, v in zip(ids, ix.is_voter.tolist(), strict=True)
        ]
    )
    ballot_template = (
        '{"member":%s,"stars":{'
        + ",".join(k.replace("%", "%%") + ":%d" for k in choice_keys)
        + '},"tags":%s}'
    )
    ballot_tags = list(map(_tags_text, ix.ballot_tag_sets))
    ballots = ",".join(
        [
            ballot_template % (ids[m], *row, ballot_tags[t])
            for m, row, t in zip(
                ix.ballot_member.tolist(),
                ix.ballot_stars.tolist(),
                ix.ballot_tag_code.tolist(),
                strict=True,
            )
        ]
    )
    follow_tags = list(map(_tags_text, ix.follow_tag_sets))
    followings = ",".join(
        [
            f'{{"followee":{ids[d]},"follower":{ids[s]},"order":{o},"tags":{follow_tags[t]}}}'
            for s, d, o, t in zip(
                ix.all_follow_src.tolist(),
                ix.all_follow_dst.tolist(),
                ix.all_follow_order.tolist(),
                ix.all_follow_tag_code.tolist(),
                strict=True,
            )
        ]
    )
    return (
        f'{{"ballots":[{ballots}],"choices":[{",".join(choice_keys)}],'
        f'"followings":[{followings}],"members":[{members}],'
        f'"tieBreakPolicy":{enc(decision.tie_break_policy.value)}}}'
    )


def _tags_text(tags: frozenset[str]) -> str:
    return "[" + ",".join(map(encode_basestring_ascii, sorted(tags))) + "]"


def content_hash(decision: Decision) -> str:
    """Return the SHA-256 hex digest of the canonical JSON; it seeds the tie lot."""
    return hashlib.sha256(decision_to_json(decision).encode("ascii")).hexdigest()
