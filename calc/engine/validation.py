"""Check a decision and turn it into index arrays sorted by id (or, checked, back into objects)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from operator import eq, lt
from typing import TYPE_CHECKING

import numpy as np

from calc.engine.columns import (
    MAX_STARS,
    MIN_STARS,
    DecisionColumns,
    check_strings,
    decision_columns,
    first_duplicate,
)
from calc.engine.types import (
    DirectBallot,
    EngineInputError,
    Following,
    FrozenDecision,
    Member,
    Role,
    SortedIdIndex,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    from calc.engine.columns import Decision

    IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class Indexed:
    """A validated decision as arrays; members and choices are in sorted id order.

    ``follow_*`` keep only followings out of members without a direct ballot (the others are
    ignored for this decision), sorted by (follower, followee). Tag sets are referenced by
    position (``*_tag_code``). ``all_follow_*`` keep every following in the same order (for
    the canonical JSON). Ballots are sorted by member.
    """

    member_ids: tuple[str, ...]
    member_index: SortedIdIndex
    choice_ids: tuple[str, ...]
    is_voter: npt.NDArray[np.bool_]
    ballot_member: IntArray
    ballot_stars: IntArray
    ballot_tag_sets: tuple[frozenset[str], ...]
    ballot_tag_code: IntArray
    follow_src: IntArray
    follow_dst: IntArray
    follow_tag_sets: tuple[frozenset[str], ...]
    follow_tag_code: IntArray
    follow_order: IntArray
    all_follow_src: IntArray
    all_follow_dst: IntArray
    all_follow_tag_code: IntArray
    all_follow_order: IntArray


def index_decision(decision: Decision) -> Indexed:
    """Return either input form as sorted index arrays; raise EngineInputError if inconsistent."""
    if isinstance(decision, DecisionColumns):
        return index_columns(decision)
    check_choices(decision.choices)
    return index_columns(decision_columns(decision))


def check_choices(choices: tuple[str, ...]) -> None:
    """Refuse an empty, non-string or repeated choice id."""
    if not choices:
        raise EngineInputError("a decision needs at least one choice")
    check_strings(set(choices), "choice ids")
    dup = first_duplicate(choices)
    if dup is not None:
        raise EngineInputError(f"duplicate choice id {dup!r}")


def index_columns(columns: DecisionColumns) -> Indexed:
    """Return ``columns`` sorted by id as ``Indexed``; raise EngineInputError if inconsistent.

    Every check is a handful of array operations, so this costs microseconds per thousand
    followings; an error names the members concerned.
    """
    check_choices(columns.choices)
    choice_ids = tuple(sorted(columns.choices))
    member_ids, rank = _sorted_members(columns.member_ids)
    n = len(member_ids)
    _check_lengths(columns, n)
    is_voter = columns.is_voter
    src = _rows(columns.follow_src, n, "follower")
    dst = _rows(columns.follow_dst, n, "followee")
    voters = _rows(columns.ballot_member, n, "ballot member")
    if rank is not None:
        src, dst, voters = rank[src], rank[dst], rank[voters]
        moved = np.empty_like(is_voter)
        moved[rank] = is_voter
        is_voter = moved
    _check_codes(columns.ballot_tag_code, columns.ballot_tag_sets, "ballot tags")
    _check_codes(columns.follow_tag_code, columns.follow_tag_sets, "following tags")

    ballot_perm = np.argsort(voters, kind="stable")
    voters = voters[ballot_perm]
    if voters.size > 1 and (voters[1:] == voters[:-1]).any():
        twice = int(voters[np.flatnonzero(voters[1:] == voters[:-1])[0]])
        raise EngineInputError(f"duplicate ballot by {member_ids[twice]!r}")
    stars = columns.ballot_stars if voters.size else np.zeros((0, len(choice_ids)), np.int64)
    if choice_ids != columns.choices:
        stars = stars[:, sorted(range(len(choice_ids)), key=columns.choices.__getitem__)]
    stars = stars[ballot_perm]
    _check_stars(stars, voters, member_ids, choice_ids)

    self_at = np.flatnonzero(src == dst)
    if self_at.size:
        who = min(member_ids[int(src[i])] for i in self_at)
        raise EngineInputError(f"member {who!r} follows themself")
    key = src * n + dst
    perm = np.argsort(key, kind="stable")
    key = key[perm]
    dup_at = np.flatnonzero(key[1:] == key[:-1])
    if dup_at.size:
        follower, followee = divmod(int(key[dup_at[0]]), n)
        raise EngineInputError(
            f"following {member_ids[follower]!r} -> {member_ids[followee]!r} appears twice"
        )
    src, dst = src[perm], dst[perm]
    tag_code, order = columns.follow_tag_code[perm], columns.follow_order[perm]
    direct = np.zeros(n, dtype=np.bool_)
    direct[voters] = True
    kept = np.flatnonzero(~direct[src])
    return Indexed(
        member_ids=member_ids,
        member_index=SortedIdIndex(member_ids),
        choice_ids=choice_ids,
        is_voter=is_voter,
        ballot_member=voters,
        ballot_stars=stars,
        ballot_tag_sets=columns.ballot_tag_sets,
        ballot_tag_code=columns.ballot_tag_code[ballot_perm],
        follow_src=src[kept],
        follow_dst=dst[kept],
        follow_tag_sets=columns.follow_tag_sets,
        follow_tag_code=tag_code[kept],
        follow_order=order[kept],
        all_follow_src=src,
        all_follow_dst=dst,
        all_follow_tag_code=tag_code,
        all_follow_order=order,
    )


def _sorted_members(ids: tuple[str, ...]) -> tuple[tuple[str, ...], IntArray | None]:
    """Return the ids sorted, and each input row's sorted row (None when already sorted)."""
    if not set(map(type, ids)) <= {str}:
        check_strings(set(ids), "member ids")
    # Strictly ascending means sorted and distinct; then only the first id can be "".
    if all(map(lt, ids, islice(ids, 1, None))) and ids[:1] != ("",):
        return ids, None
    check_strings(set(ids), "member ids")
    order = sorted(range(len(ids)), key=ids.__getitem__)
    ordered = tuple(map(ids.__getitem__, order))
    if any(map(eq, ordered, islice(ordered, 1, None))):
        raise EngineInputError(f"duplicate member {first_duplicate(ordered)!r}")
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    return ordered, rank


def _check_lengths(columns: DecisionColumns, n: int) -> None:
    if columns.is_voter.size != n:
        raise EngineInputError(f"is_voter has {columns.is_voter.size} entries for {n} members")
    follows = {
        name: getattr(columns, name).size
        for name in ("follow_src", "follow_dst", "follow_tag_code", "follow_order")
    }
    if len(set(follows.values())) > 1:
        raise EngineInputError(f"following columns differ in length: {follows}")
    ballots = columns.ballot_member.size
    if columns.ballot_tag_code.size != ballots:
        raise EngineInputError(
            f"ballot_tag_code has {columns.ballot_tag_code.size} entries for {ballots} ballots"
        )
    expected = (ballots, len(columns.choices))
    if columns.ballot_stars.shape != expected and ballots:  # no ballots: any empty shape
        raise EngineInputError(
            f"ballot_stars must have a row per ballot and a column per choice {expected}, "
            f"got {columns.ballot_stars.shape}"
        )


def _rows(rows: IntArray, n: int, what: str) -> IntArray:
    """Return ``rows`` if every entry is a member row, else refuse the first that is not."""
    if rows.size and not 0 <= int(rows.min()) <= int(rows.max()) < n:
        bad = int(rows[np.flatnonzero((rows < 0) | (rows >= n))[0]])
        raise EngineInputError(f"{what} {bad} is not a member row (0 to {n - 1})")
    return rows


def _check_codes(codes: IntArray, sets: tuple[frozenset[str], ...], what: str) -> None:
    if codes.size and not 0 <= int(codes.min()) <= int(codes.max()) < len(sets):
        raise EngineInputError(f"{what}: a tag code is not a position in the {len(sets)} sets")
    check_strings(set().union(*sets), what)


def _check_stars(
    stars: IntArray, voters: IntArray, member_ids: tuple[str, ...], choice_ids: tuple[str, ...]
) -> None:
    """Refuse a star value outside 0-5, naming the least member holding one."""
    if not stars.size or MIN_STARS <= int(stars.min()) <= int(stars.max()) <= MAX_STARS:
        return
    row, col = (int(v[0]) for v in np.nonzero((stars < MIN_STARS) | (stars > MAX_STARS)))
    raise EngineInputError(
        f"ballot of {member_ids[int(voters[row])]!r}: stars for {choice_ids[col]!r} must be an "
        f"integer 0-5, got {int(stars[row, col])}"
    )


def decision_from_columns(columns: DecisionColumns) -> FrozenDecision:
    """Return the object form of ``columns`` (validated first)."""
    index_columns(columns)
    ids = columns.member_ids
    roles = (Role.VOTER, Role.LOBBYIST)
    follow_tags = columns.follow_tag_sets
    ballot_tags = columns.ballot_tag_sets
    return FrozenDecision(
        choices=columns.choices,
        members=tuple(
            Member(i, roles[not v]) for i, v in zip(ids, columns.is_voter.tolist(), strict=True)
        ),
        followings=tuple(
            Following(ids[s], ids[d], follow_tags[t], o)
            for s, d, t, o in zip(
                columns.follow_src.tolist(),
                columns.follow_dst.tolist(),
                columns.follow_tag_code.tolist(),
                columns.follow_order.tolist(),
                strict=True,
            )
        ),
        ballots=tuple(
            DirectBallot.of(ids[m], zip(columns.choices, row, strict=True), ballot_tags[t])
            for m, row, t in zip(
                columns.ballot_member.tolist(),
                columns.ballot_stars.tolist(),
                columns.ballot_tag_code.tolist(),
                strict=True,
            )
        ),
        tie_break_policy=columns.tie_break_policy,
    )
