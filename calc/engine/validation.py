"""Check a frozen decision and turn it into index arrays sorted by id."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import chain, compress, repeat
from itertools import count as numbering
from operator import attrgetter, is_not, itemgetter
from typing import TYPE_CHECKING

import numpy as np

from calc.engine.types import MAX_STARS, EngineInputError, Member, Role, SortedIdIndex

MIN_STARS = 0
# Up to this many members a dict finds ids faster than matching object addresses (the
# table stays in cache).
DICT_LOOKUP_LIMIT = 50_000

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]

    from calc.engine.types import DirectBallot, FrozenDecision


@dataclass(frozen=True, slots=True, eq=False)
class Indexed:
    """A validated decision as arrays; members and choices are in sorted id order.

    ``follow_*`` keep only followings out of members without a direct ballot (the others are
    ignored for this decision), sorted by (follower, followee). Tag sets are stored once each
    (``*_tag_sets``, sorted) and referenced by position (``*_tag_code``). ``all_follow_*``
    keep every following in the same order (for the canonical JSON); ``all_follow_pos`` is
    each one's position in ``decision.followings``.
    """

    member_ids: tuple[str, ...]
    member_index: SortedIdIndex
    choice_ids: tuple[str, ...]
    is_voter: npt.NDArray[np.bool_]
    ballot_member: npt.NDArray[np.int64]
    ballot_stars: npt.NDArray[np.int64]
    ballot_tag_sets: tuple[frozenset[str], ...]
    ballot_tag_code: npt.NDArray[np.int64]
    follow_src: npt.NDArray[np.int64]
    follow_dst: npt.NDArray[np.int64]
    follow_tag_sets: tuple[frozenset[str], ...]
    follow_tag_code: npt.NDArray[np.int64]
    follow_order: npt.NDArray[np.int64]
    all_follow_pos: npt.NDArray[np.int64]
    all_follow_src: npt.NDArray[np.int64]
    all_follow_dst: npt.NDArray[np.int64]
    all_follow_tag_code: npt.NDArray[np.int64]
    all_follow_order: npt.NDArray[np.int64]


class _IdLookup:
    """Map member ids to rows, first by object identity, then by value.

    Callers usually pass the very string objects of ``Member.id`` in followings and ballots;
    comparing addresses then avoids a hash-table probe per following (a cache miss each at a
    million members). Equal strings that are distinct objects still resolve by value, so the
    result never depends on identity.
    """

    __slots__ = ("_ids", "_order", "_ptrs", "_rows")

    def __init__(self, member_ids: tuple[str, ...]) -> None:
        self._ids = member_ids
        self._rows: dict[str, int] | None = None
        if len(member_ids) <= DICT_LOOKUP_LIMIT:
            self._rows = dict(zip(member_ids, range(len(member_ids)), strict=True))
            return
        ptrs = np.fromiter(map(id, member_ids), np.uint64, len(member_ids))
        self._order = np.argsort(ptrs)
        self._ptrs = ptrs[self._order]

    def distinct(self) -> int:
        """Return how many distinct ids there are."""
        return len(self._rows) if self._rows is not None else len(set(self._ids))

    def rows(self, names: Iterable[str], count: int, name_at: Callable[[int], str]) -> IntArray:
        """Return the row of each of ``count`` names (-1 for a non-member), one pass over them.

        ``name_at(i)`` gives the i-th name again, for the few that are not the same object.
        """
        if self._rows is not None:
            try:
                return np.fromiter(map(self._rows.__getitem__, names), np.int64, count)
            except KeyError:
                get = self._rows.get
                return np.fromiter((get(name_at(i), -1) for i in range(count)), np.int64, count)
        wanted = np.fromiter(map(id, names), np.uint64, count)
        out = np.full(count, -1, dtype=np.int64)
        if not self._ptrs.size or not count:
            return out
        at = np.minimum(np.searchsorted(self._ptrs, wanted), self._ptrs.size - 1)
        hit = self._ptrs[at] == wanted
        out[hit] = self._order[at[hit]]
        miss = np.flatnonzero(~hit)
        if miss.size:
            index: Mapping[str, int] = (
                SortedIdIndex(self._ids)
                if miss.size < 64
                else dict(zip(self._ids, range(len(self._ids)), strict=True))
            )
            out[miss] = np.fromiter(
                (index.get(name_at(i), -1) for i in miss.tolist()), np.int64, miss.size
            )
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
    if not set(map(type, ids)) <= {str} or "" in ids:
        _check_strings(set(ids), "member ids")
    member_ids = tuple(sorted(ids))
    lookup = _IdLookup(member_ids)
    if lookup.distinct() != len(ids):
        raise EngineInputError(f"duplicate member {_first_duplicate(ids)!r}")
    member_index = SortedIdIndex(member_ids)
    roles = map(attrgetter("role"), members)
    lobbyists = list(compress(ids, map(is_not, roles, repeat(Role.VOTER))))
    is_voter = np.ones(len(member_ids), dtype=np.bool_)
    is_voter[lookup.rows(lobbyists, len(lobbyists), lobbyists.__getitem__)] = False

    ballot_member, ballot_stars, ballot_sets, ballot_code = _index_ballots(
        decision, lookup, choice_index
    )
    direct = np.zeros(len(member_ids), dtype=np.bool_)
    direct[ballot_member] = True
    follows = _index_followings(decision, lookup, direct)
    return Indexed(
        member_ids=member_ids,
        member_index=member_index,
        choice_ids=choice_ids,
        is_voter=is_voter,
        ballot_member=ballot_member,
        ballot_stars=ballot_stars,
        ballot_tag_sets=ballot_sets,
        ballot_tag_code=ballot_code,
        follow_src=follows.src[follows.kept],
        follow_dst=follows.dst[follows.kept],
        follow_tag_sets=follows.tag_sets,
        follow_tag_code=follows.tag_code[follows.kept],
        follow_order=follows.order[follows.kept],
        all_follow_pos=follows.pos,
        all_follow_src=follows.src,
        all_follow_dst=follows.dst,
        all_follow_tag_code=follows.tag_code,
        all_follow_order=follows.order,
    )


def _index_ballots(
    decision: FrozenDecision, lookup: _IdLookup, choice_index: dict[str, int]
) -> tuple[IntArray, IntArray, tuple[frozenset[str], ...], IntArray]:
    """Return ballot rows (sorted), their stars matrix and tags; refuse bad ballots."""
    ballots = decision.ballots
    n_choices = len(choice_index)
    who = list(map(attrgetter("member"), ballots))
    rows = lookup.rows(who, len(who), who.__getitem__)
    if rows.size and rows.min() < 0:
        strangers = [who[i] for i in np.flatnonzero(rows < 0).tolist()]
        raise EngineInputError(f"ballot by non-member {min(map(str, strangers))!r}")
    perm = np.argsort(rows, kind="stable")
    if rows.size and (rows[perm][1:] == rows[perm][:-1]).any():
        raise EngineInputError(f"duplicate ballot by {_first_duplicate(who)!r}")
    star_lists = list(map(attrgetter("stars"), ballots))
    flat = list(chain.from_iterable(star_lists))
    if not set(map(len, flat)) <= {2}:
        bad = next(b for b in ballots if any(len(p) != 2 for p in b.stars))
        raise EngineInputError(f"ballot of {bad.member!r}: stars must be (choice, stars) pairs")
    named = list(map(itemgetter(0), flat))
    values = list(map(itemgetter(1), flat))
    try:
        cols = np.fromiter(map(choice_index.__getitem__, named), np.int64, len(named))
    except (KeyError, TypeError):
        _refuse_unknown_choice(ballots, choice_index)
        raise
    lengths = np.fromiter(map(len, star_lists), np.int64, len(star_lists))
    owner = np.repeat(np.arange(len(ballots), dtype=np.int64), lengths)
    key = owner * n_choices + cols
    if key.size and np.bincount(key).max() > 1:
        key.sort()
        k, col = divmod(int(key[np.flatnonzero(key[1:] == key[:-1])[0]]), n_choices)
        choice = sorted(choice_index)[col]
        raise EngineInputError(f"ballot of {who[k]!r}: choice {choice!r} given twice")
    vals = _star_values(ballots, values)
    rank = np.empty_like(perm)
    rank[perm] = np.arange(perm.size)
    stars = np.zeros((len(ballots), n_choices), dtype=np.int64)
    stars.ravel()[rank[owner] * n_choices + cols] = vals
    sets, code = _tag_codes(list(map(attrgetter("tags"), ballots)), "ballot tags")
    return rows[perm], stars, sets, code[perm]


@dataclass(frozen=True, slots=True, eq=False)
class _Followings:
    """Every following sorted by (follower, followee); ``kept`` selects the non-direct ones."""

    pos: IntArray
    src: IntArray
    dst: IntArray
    tag_sets: tuple[frozenset[str], ...]
    tag_code: IntArray
    order: IntArray
    kept: IntArray


def _refuse_unknown_choice(ballots: tuple[DirectBallot, ...], choice_index: dict[str, int]) -> None:
    """Raise EngineInputError for the least unknown choice (by repr) on any ballot."""
    unknown = {c for b in ballots for c, _ in b.stars} - choice_index.keys()
    if unknown:
        bad_choice = min(map(repr, unknown))
        bad_member = min(
            b.member for b in ballots if any(repr(c) == bad_choice for c, _ in b.stars)
        )
        raise EngineInputError(f"ballot of {bad_member!r}: unknown choice {bad_choice}")


def _star_values(ballots: tuple[DirectBallot, ...], values: list[int]) -> IntArray:
    """Return the stars as an array; refuse a non-integer or out-of-range one (least member)."""
    if set(map(type, values)) <= {int}:
        out: IntArray | None
        try:
            out = np.fromiter(values, np.int64, len(values))
        except OverflowError:
            out = None
        if out is not None and (not out.size or MIN_STARS <= out.min() <= out.max() <= MAX_STARS):
            return out
    for b in sorted(ballots, key=attrgetter("member")):
        for choice, value in b.stars:
            if not _is_int(value) or not MIN_STARS <= value <= MAX_STARS:
                raise EngineInputError(
                    f"ballot of {b.member!r}: stars for {choice!r} must be an integer 0-5, "
                    f"got {value!r}"
                )
    raise AssertionError("unreachable")  # pragma: no cover


def _index_followings(
    decision: FrozenDecision, lookup: _IdLookup, direct: npt.NDArray[np.bool_]
) -> _Followings:
    """Return every following sorted, and which are out of non-direct members; refuse bad ones."""
    followings = decision.followings
    n = int(direct.size)
    count = len(followings)
    ends: dict[str, npt.NDArray[np.int64]] = {}
    for end in ("follower", "followee"):
        get = attrgetter(end)

        def name_at(i: int, get: attrgetter[str] = get) -> str:
            return str(get(followings[i]))

        ends[end] = lookup.rows(map(get, followings), count, name_at)
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
        bad_order = next((f for f in followings if not _is_int(f.order)), None)
        if bad_order is not None:
            raise EngineInputError(
                f"following {bad_order.follower!r} -> {bad_order.followee!r}: "
                f"order must be an integer, got {bad_order.order!r}"
            )
        orders = [int(order) for order in orders]
    sets, code = _tag_codes(list(map(attrgetter("tags"), followings)), "following tags")
    order_arr = np.fromiter(orders, np.int64, count)
    src_sorted = src[perm]
    return _Followings(
        pos=perm,
        src=src_sorted,
        dst=dst[perm],
        tag_sets=sets,
        tag_code=code[perm],
        order=order_arr[perm],
        kept=np.flatnonzero(~direct[src_sorted]),
    )


def _tag_codes(
    tag_sets: list[frozenset[str]], what: str
) -> tuple[tuple[frozenset[str], ...], IntArray]:
    """Return the distinct tag sets (sorted) and each item's position among them."""
    # One pass numbers the sets as first met; the numbers are then remapped to sorted order,
    # so the result does not depend on the order of ``tag_sets``.
    first_met: defaultdict[frozenset[str], int] = defaultdict(numbering().__next__)
    met = np.fromiter(map(first_met.__getitem__, tag_sets), np.int64, len(tag_sets))
    _check_strings(set().union(*first_met), what)
    ordered = tuple(sorted(first_met, key=sorted))
    rank = np.empty(len(ordered), dtype=np.int64)
    rank[[first_met[s] for s in ordered]] = np.arange(len(ordered))
    return ordered, rank[met]
