"""Check a frozen decision and turn it into index arrays sorted by id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from calc.engine.types import MAX_STARS, EngineInputError, Member, Role

if TYPE_CHECKING:
    import numpy.typing as npt

    from calc.engine.types import FrozenDecision


@dataclass(frozen=True, slots=True, eq=False)
class Indexed:
    """A validated decision as arrays; members and choices are in sorted id order.

    ``follow_*`` keep only followings out of members without a direct ballot (the others are
    ignored for this decision), sorted by (follower, followee).
    """

    member_ids: tuple[str, ...]
    member_index: dict[str, int]
    choice_ids: tuple[str, ...]
    is_voter: npt.NDArray[np.bool_]
    ballot_member: npt.NDArray[np.int64]
    ballot_stars: npt.NDArray[np.int64]
    ballot_tags: tuple[frozenset[str], ...]
    follow_src: npt.NDArray[np.int64]
    follow_dst: npt.NDArray[np.int64]
    follow_tags: tuple[frozenset[str], ...]
    follow_order: npt.NDArray[np.int64]


def _first_duplicate(values: list[str]) -> str | None:
    seen: set[str] = set()
    dups = [v for v in values if v in seen or seen.add(v)]  # type: ignore[func-returns-value]
    return min(dups) if dups else None


def _check_strings(values: set[object], what: str) -> None:
    bad = [v for v in values if not isinstance(v, str) or not v]
    if bad:
        raise EngineInputError(f"{what} must be non-empty strings, got {sorted(map(repr, bad))[0]}")


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def index_decision(decision: FrozenDecision) -> Indexed:
    """Return the decision as sorted index arrays; raise EngineInputError if inconsistent."""
    choices = list(decision.choices)
    if not choices:
        raise EngineInputError("a decision needs at least one choice")
    _check_strings(set(choices), "choice ids")
    dup = _first_duplicate(choices)
    if dup is not None:
        raise EngineInputError(f"duplicate choice id {dup!r}")
    choice_ids = tuple(sorted(choices))
    choice_index = {c: i for i, c in enumerate(choice_ids)}

    members = decision.members
    for m in members:
        if not isinstance(m, Member):
            raise EngineInputError(f"members must be Member values, got {m!r}")
    ids = [m.id for m in members]
    _check_strings(set(ids), "member ids")
    dup = _first_duplicate(ids)
    if dup is not None:
        raise EngineInputError(f"duplicate member {dup!r}")
    order = sorted(range(len(ids)), key=ids.__getitem__)
    member_ids = tuple(ids[i] for i in order)
    member_index = {m: i for i, m in enumerate(member_ids)}
    is_voter = np.fromiter(
        (members[i].role is Role.VOTER for i in order), dtype=np.bool_, count=len(order)
    )

    ballot_member, ballot_stars, ballot_tags = _index_ballots(decision, member_index, choice_index)
    direct = np.zeros(len(member_ids), dtype=np.bool_)
    direct[ballot_member] = True
    src, dst, tags, ordinal = _index_followings(decision, member_index, direct)
    return Indexed(
        member_ids=member_ids,
        member_index=member_index,
        choice_ids=choice_ids,
        is_voter=is_voter,
        ballot_member=ballot_member,
        ballot_stars=ballot_stars,
        ballot_tags=ballot_tags,
        follow_src=src,
        follow_dst=dst,
        follow_tags=tags,
        follow_order=ordinal,
    )


def _index_ballots(
    decision: FrozenDecision, member_index: dict[str, int], choice_index: dict[str, int]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], tuple[frozenset[str], ...]]:
    ballots = decision.ballots
    get = member_index.get
    rows = [get(b.member, -1) for b in ballots]
    if rows and min(rows) < 0:
        bad = min(str(b.member) for b, r in zip(ballots, rows, strict=True) if r < 0)
        raise EngineInputError(f"ballot by non-member {bad!r}")
    dup = _first_duplicate([b.member for b in ballots])
    if dup is not None:
        raise EngineInputError(f"duplicate ballot by {dup!r}")
    perm = sorted(range(len(ballots)), key=rows.__getitem__)
    stars = np.zeros((len(ballots), len(choice_index)), dtype=np.int64)
    for out_row, k in enumerate(perm):
        b = ballots[k]
        seen: set[str] = set()
        for pair in b.stars:
            if len(pair) != 2:
                raise EngineInputError(
                    f"ballot of {b.member!r}: stars must be (choice, stars) pairs"
                )
            choice, value = pair
            col = choice_index.get(choice) if isinstance(choice, str) else None
            if col is None:
                raise EngineInputError(f"ballot of {b.member!r}: unknown choice {choice!r}")
            if choice in seen:
                raise EngineInputError(f"ballot of {b.member!r}: choice {choice!r} given twice")
            seen.add(choice)
            if not _is_int(value) or not 0 <= value <= MAX_STARS:
                raise EngineInputError(
                    f"ballot of {b.member!r}: stars for {choice!r} must be an integer 0-5, "
                    f"got {value!r}"
                )
            stars[out_row, col] = value
    tags = tuple(ballots[k].tags for k in perm)
    all_tags: set[object] = set().union(*tags) if tags else set()
    _check_strings(all_tags, "ballot tags")
    member = np.array([rows[k] for k in perm], dtype=np.int64)
    return member, stars, tags


def _index_followings(
    decision: FrozenDecision, member_index: dict[str, int], direct: npt.NDArray[np.bool_]
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], tuple[frozenset[str], ...], npt.NDArray[np.int64]
]:
    followings = decision.followings
    get = member_index.get
    n = len(member_index)
    src = np.fromiter((get(f.follower, -1) for f in followings), np.int64, len(followings))
    dst = np.fromiter((get(f.followee, -1) for f in followings), np.int64, len(followings))
    for arr, end in ((src, "follower"), (dst, "followee")):
        bad_rows = np.flatnonzero(arr < 0)
        if bad_rows.size:
            f = min(
                (followings[int(i)] for i in bad_rows),
                key=lambda f: (str(f.follower), str(f.followee)),
            )
            raise EngineInputError(
                f"following {f.follower!r} -> {f.followee!r}: {end} is not a member"
            )
    self_rows = np.flatnonzero(src == dst)
    if self_rows.size:
        who = min(followings[int(i)].follower for i in self_rows)
        raise EngineInputError(f"member {who!r} follows themself")
    key = src * n + dst
    perm = np.argsort(key, kind="stable")
    key_sorted = key[perm]
    dup_at = np.flatnonzero(key_sorted[1:] == key_sorted[:-1])
    if dup_at.size:
        f = followings[int(perm[dup_at[0]])]
        raise EngineInputError(f"following {f.follower!r} -> {f.followee!r} appears twice")
    orders = [f.order for f in followings]
    if not all(map(_is_int, orders)):
        f = next(f for f in followings if not _is_int(f.order))
        raise EngineInputError(
            f"following {f.follower!r} -> {f.followee!r}: order must be an integer, got {f.order!r}"
        )
    all_tags: set[object] = set().union(*(f.tags for f in followings)) if followings else set()
    _check_strings(all_tags, "following tags")
    keep = perm[~direct[src[perm]]]
    order_arr = np.array(orders, dtype=np.int64) if orders else np.zeros(0, np.int64)
    kept_tags = tuple(followings[i].tags for i in keep.tolist())
    return src[keep], dst[keep], kept_tags, order_arr[keep]
