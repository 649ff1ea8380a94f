"""Check a frozen decision and turn it into index arrays sorted by id."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain, compress, repeat
from operator import attrgetter, is_not, itemgetter
from typing import TYPE_CHECKING

import numpy as np

from calc.engine.types import MAX_STARS, EngineInputError, Member, Role

MIN_STARS = 0

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


class _IdLookup:
    """Map member ids to rows, first by object identity, then by value.

    Callers usually pass the very string objects of ``Member.id`` in followings and ballots;
    comparing addresses then avoids touching millions of scattered strings (a dict lookup
    per following costs a cache miss). Equal strings that are distinct objects still
    resolve through the dict, so the result never depends on identity.
    """

    __slots__ = ("_index", "_order", "_ptrs")

    def __init__(self, member_index: dict[str, int]) -> None:
        ptrs = np.fromiter(map(id, member_index), np.uint64, len(member_index))
        self._order = np.argsort(ptrs)
        self._ptrs = ptrs[self._order]
        self._index = member_index

    def rows(self, names: list[str]) -> npt.NDArray[np.int64]:
        """Return the row of each name, -1 for a non-member."""
        wanted = np.fromiter(map(id, names), np.uint64, len(names))
        out = np.full(len(names), -1, dtype=np.int64)
        if not self._ptrs.size or not wanted.size:
            return out
        at = np.minimum(np.searchsorted(self._ptrs, wanted), self._ptrs.size - 1)
        hit = self._ptrs[at] == wanted
        out[hit] = self._order[at[hit]]
        miss = np.flatnonzero(~hit)
        if miss.size:
            get = self._index.get
            out[miss] = np.fromiter((get(names[i], -1) for i in miss.tolist()), np.int64, miss.size)
        return out


def _first_duplicate(values: list[str]) -> str | None:
    seen: set[str] = set()
    dups = [v for v in values if v in seen or seen.add(v)]  # type: ignore[func-returns-value]
    return min(dups) if dups else None


def _check_strings(values: set[object], what: str) -> None:
    if set(map(type, values)) <= {str} and "" not in values:
        return
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
    choice_index = dict(zip(choice_ids, range(len(choice_ids)), strict=True))

    members = decision.members
    if not set(map(type, members)) <= {Member}:
        bad = next(m for m in members if not isinstance(m, Member))
        raise EngineInputError(f"members must be Member values, got {bad!r}")
    ids = list(map(attrgetter("id"), members))
    _check_strings(set(ids), "member ids")
    if len(set(ids)) != len(ids):
        raise EngineInputError(f"duplicate member {_first_duplicate(ids)!r}")
    member_ids = tuple(sorted(ids))
    member_index = dict(zip(member_ids, range(len(member_ids)), strict=True))
    is_voter = np.ones(len(member_ids), dtype=np.bool_)
    roles = map(attrgetter("role"), members)
    lobbyists = list(compress(ids, map(is_not, roles, repeat(Role.VOTER))))
    is_voter[list(map(member_index.__getitem__, lobbyists))] = False

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
    """Return ballot rows (sorted), their stars matrix and tags; refuse bad ballots."""
    ballots = decision.ballots
    n_choices = len(choice_index)
    who = list(map(attrgetter("member"), ballots))
    rows = _IdLookup(member_index).rows(who)
    if rows.size and rows.min() < 0:
        strangers = [who[i] for i in np.flatnonzero(rows < 0).tolist()]
        raise EngineInputError(f"ballot by non-member {min(map(str, strangers))!r}")
    if np.unique(rows).size != rows.size:
        raise EngineInputError(f"duplicate ballot by {_first_duplicate(who)!r}")
    star_lists = list(map(attrgetter("stars"), ballots))
    flat = list(chain.from_iterable(star_lists))
    if not set(map(len, flat)) <= {2}:
        bad = next(b for b in ballots if any(len(p) != 2 for p in b.stars))
        raise EngineInputError(f"ballot of {bad.member!r}: stars must be (choice, stars) pairs")
    named = list(map(itemgetter(0), flat))
    values = list(map(itemgetter(1), flat))
    unknown = set(named) - choice_index.keys()
    if unknown:
        bad_choice = min(map(repr, unknown))
        bad_member = min(
            b.member for b in ballots if any(repr(c) == bad_choice for c, _ in b.stars)
        )
        raise EngineInputError(f"ballot of {bad_member!r}: unknown choice {bad_choice}")
    lengths = np.fromiter(map(len, star_lists), np.int64, len(star_lists))
    owner = np.repeat(np.arange(len(ballots), dtype=np.int64), lengths)
    cols = np.fromiter(map(choice_index.__getitem__, named), np.int64, len(named))
    key = owner * n_choices + cols
    uniq, counts = np.unique(key, return_counts=True)
    if uniq.size != key.size:
        k, col = divmod(int(uniq[counts > 1][0]), n_choices)
        choice = sorted(choice_index)[col]
        raise EngineInputError(f"ballot of {who[k]!r}: choice {choice!r} given twice")
    if not set(map(type, values)) <= {int} or (
        values and not MIN_STARS <= min(values) <= max(values) <= MAX_STARS
    ):
        for b in sorted(ballots, key=attrgetter("member")):
            for choice, value in b.stars:
                if not _is_int(value) or not MIN_STARS <= value <= MAX_STARS:
                    raise EngineInputError(
                        f"ballot of {b.member!r}: stars for {choice!r} must be an integer 0-5, "
                        f"got {value!r}"
                    )
    perm = np.argsort(rows, kind="stable")
    rank = np.empty_like(perm)
    rank[perm] = np.arange(perm.size)
    stars = np.zeros((len(ballots), n_choices), dtype=np.int64)
    stars[rank[owner], cols] = np.array(values, dtype=np.int64)
    tags_list = list(map(attrgetter("tags"), ballots))
    tags = tuple(map(tags_list.__getitem__, perm.tolist()))
    distinct = set(tags)
    _check_strings(set().union(*distinct) if distinct else set(), "ballot tags")
    return rows[perm], stars, tags


def _index_followings(
    decision: FrozenDecision, member_index: dict[str, int], direct: npt.NDArray[np.bool_]
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], tuple[frozenset[str], ...], npt.NDArray[np.int64]
]:
    """Return the followings out of non-direct members; refuse inconsistent ones."""
    followings = decision.followings
    n = len(member_index)
    count = len(followings)
    ends: dict[str, npt.NDArray[np.int64]] = {}
    lookup = _IdLookup(member_index)
    for end in ("follower", "followee"):
        ends[end] = lookup.rows(list(map(attrgetter(end), followings)))
        if count and ends[end].min() < 0:
            bad = min(
                (followings[int(i)] for i in np.flatnonzero(ends[end] < 0)),
                key=lambda f: (str(f.follower), str(f.followee)),
            )
            raise EngineInputError(
                f"following {bad.follower!r} -> {bad.followee!r}: {end} is not a member"
            )
    src, dst = ends["follower"], ends["followee"]
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
    orders = list(map(attrgetter("order"), followings))
    if not set(map(type, orders)) <= {int}:
        f = next(f for f in followings if not _is_int(f.order))
        raise EngineInputError(
            f"following {f.follower!r} -> {f.followee!r}: order must be an integer, got {f.order!r}"
        )
    tags_list = list(map(attrgetter("tags"), followings))
    distinct = set(tags_list)
    _check_strings(set().union(*distinct) if distinct else set(), "following tags")
    keep = perm[~direct[src[perm]]]
    order_arr = np.array(orders, dtype=np.int64) if orders else np.zeros(0, np.int64)
    kept_tags = tuple(map(tags_list.__getitem__, keep.tolist()))
    return src[keep], dst[keep], kept_tags, order_arr[keep]
