"""A decision as columns: the engine's input, as a database read or a generator produces it.

``FrozenDecision`` (one object per member, following and ballot) is the friendly form for
tests and hand-written cases; ``DecisionColumns`` holds the same content as arrays, which
the engine reads without visiting a Python object per following. ``decision_columns`` turns
the first into the second (refusing what only objects can get wrong: non-members, unknown
choices, non-integer stars); ``validation.decision_from_columns`` goes back, checking first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import chain, repeat
from itertools import count as numbering
from operator import attrgetter, is_not, itemgetter
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from calc.engine.types import (
    MAX_STARS,
    DirectBallot,
    EngineInputError,
    Following,
    FrozenDecision,
    Member,
    Role,
    TieBreakPolicy,
    coerce_enum,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]
    BoolArray = npt.NDArray[np.bool_]

MIN_STARS = 0
T = TypeVar("T", bound=np.generic)


def _empty_ints() -> IntArray:
    return np.zeros(0, dtype=np.int64)


def _no_stars() -> IntArray:
    return np.zeros((0, 0), dtype=np.int64)


def _int_column(value: object, name: str, ndim: int = 1) -> IntArray:
    """Return ``value`` as an int64 array of ``ndim`` dimensions, or refuse it."""
    array = np.asarray(value)
    if array.size == 0:
        return np.zeros(array.shape if array.ndim == ndim else (0,) * ndim, dtype=np.int64)
    if array.dtype.kind not in "iu" or array.ndim != ndim:
        raise EngineInputError(f"{name} must be a {ndim}-dimensional array of integers")
    return np.asarray(array, dtype=np.int64)


_INT_COLUMNS = (
    "follow_src",
    "follow_dst",
    "follow_tag_code",
    "follow_order",
    "ballot_member",
    "ballot_tag_code",
)


def _read_only(array: npt.NDArray[T]) -> npt.NDArray[T]:
    """Return a view that refuses writes (the caller's array itself stays as it was)."""
    view = array.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, slots=True, eq=False)
class DecisionColumns:
    """One decision as columns. Members are rows of ``member_ids``; everything refers to them.

    ``follow_*`` and ``ballot_*`` are parallel arrays, one entry per following or direct
    ballot. Tag sets are given once each (``*_tag_sets``) and referenced by position
    (``*_tag_code``). ``ballot_stars`` has one row per ballot and one column per entry of
    ``choices`` (0 for a choice left unrated). No tuple or array order changes any result.
    Lists are accepted and converted; arrays are kept without a copy, behind read-only views
    (so change none after handing it over). Consistency is checked by the engine
    (``calc.engine.validation.index_columns``), not here.
    """

    choices: tuple[str, ...]
    member_ids: tuple[str, ...]
    is_voter: BoolArray
    follow_src: IntArray = field(default_factory=_empty_ints)
    follow_dst: IntArray = field(default_factory=_empty_ints)
    follow_tag_sets: tuple[frozenset[str], ...] = ()
    follow_tag_code: IntArray = field(default_factory=_empty_ints)
    follow_order: IntArray = field(default_factory=_empty_ints)
    ballot_member: IntArray = field(default_factory=_empty_ints)
    ballot_stars: IntArray = field(default_factory=_no_stars)
    ballot_tag_sets: tuple[frozenset[str], ...] = ()
    ballot_tag_code: IntArray = field(default_factory=_empty_ints)
    tie_break_policy: TieBreakPolicy = TieBreakPolicy.LOT

    def __post_init__(self) -> None:
        put = object.__setattr__
        for name in ("choices", "member_ids"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                put(self, name, tuple(value))
        for name in ("follow_tag_sets", "ballot_tag_sets"):
            sets = getattr(self, name)
            if not isinstance(sets, tuple) or not all(isinstance(s, frozenset) for s in sets):
                put(self, name, tuple(map(frozenset, sets)))
        voter = np.asarray(self.is_voter)
        if voter.dtype != np.bool_ and voter.size:
            raise EngineInputError("is_voter must be an array of booleans")
        put(self, "is_voter", _read_only(np.asarray(voter, dtype=np.bool_).reshape(-1)))
        for name in _INT_COLUMNS:
            put(self, name, _read_only(_int_column(getattr(self, name), name)))
        stars = _int_column(self.ballot_stars, "ballot_stars", ndim=2)
        put(self, "ballot_stars", _read_only(stars))
        put(
            self,
            "tie_break_policy",
            coerce_enum(TieBreakPolicy, self.tie_break_policy, "tie-break policy"),
        )

    @property
    def member_count(self) -> int:
        return len(self.member_ids)


Decision = FrozenDecision | DecisionColumns
"""Either input form; every engine entry point takes both."""


def first_duplicate(values: Iterable[str]) -> str | None:
    """Return the least value that occurs more than once, or None."""
    seen: set[str] = set()
    dups = [v for v in values if v in seen or seen.add(v)]  # type: ignore[func-returns-value]
    return min(dups) if dups else None


def check_strings(values: set[object], what: str) -> None:
    """Refuse any value that is not a non-empty string, naming the least offender."""
    if set(map(type, values)) <= {str} and "" not in values:
        return
    bad = [v for v in values if not isinstance(v, str) or not v]
    if bad:
        raise EngineInputError(f"{what} must be non-empty strings, got {sorted(map(repr, bad))[0]}")


def tag_codes(tag_sets: Iterable[frozenset[str]]) -> tuple[tuple[frozenset[str], ...], IntArray]:
    """Return the distinct tag sets (sorted) and each item's position among them."""
    # One pass numbers the sets as first met; the numbers are then remapped to sorted order,
    # so the result does not depend on the order of ``tag_sets``.
    first_met: defaultdict[frozenset[str], int] = defaultdict(numbering().__next__)
    met = np.fromiter(map(first_met.__getitem__, tag_sets), np.int64)
    ordered = tuple(sorted(first_met, key=sorted))
    rank = np.empty(len(ordered), dtype=np.int64)
    rank[[first_met[s] for s in ordered]] = np.arange(len(ordered))
    return ordered, rank[met]


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _rows(
    row_of: dict[str, int], names: Iterable[str], count: int, name_at: Callable[[int], str]
) -> IntArray:
    """Return the row of each of ``count`` names (-1 for a non-member), one pass over them.

    ``name_at(i)`` gives the i-th name again, for the slow pass that finds the strangers.
    """
    try:
        return np.fromiter(map(row_of.__getitem__, names), np.int64, count)
    except (KeyError, TypeError):
        get = row_of.get
        return np.fromiter(
            (get(n, -1) if isinstance(n := name_at(i), str) else -1 for i in range(count)),
            np.int64,
            count,
        )


def decision_columns(decision: FrozenDecision) -> DecisionColumns:
    """Return ``decision`` as columns; EngineInputError names a non-member or a bad ballot.

    Members keep their input order (the engine sorts). Reads each attribute of the input
    objects in one C-level pass (``map``, ``attrgetter``, ``np.fromiter``).
    """
    members = decision.members
    if not set(map(type, members)) <= {Member}:
        bad = next(m for m in members if not isinstance(m, Member))
        raise EngineInputError(f"members must be Member values, got {bad!r}")
    ids = list(map(attrgetter("id"), members))
    check_strings(set(ids), "member ids")
    row_of = dict(zip(ids, range(len(ids)), strict=True))
    if len(row_of) != len(ids):
        raise EngineInputError(f"duplicate member {first_duplicate(ids)!r}")
    is_voter = np.fromiter(
        map(is_not, map(attrgetter("role"), members), repeat(Role.LOBBYIST)), np.bool_, len(ids)
    )
    check_strings(set(decision.choices), "choice ids")
    choice_index = dict(zip(decision.choices, range(len(decision.choices)), strict=False))
    ballot_member, ballot_stars = _ballot_columns(decision.ballots, row_of, choice_index)
    ballot_sets, ballot_code = tag_codes(map(attrgetter("tags"), decision.ballots))
    src, dst, orders = _following_columns(decision.followings, row_of)
    follow_sets, follow_code = tag_codes(map(attrgetter("tags"), decision.followings))
    return DecisionColumns(
        choices=decision.choices,
        member_ids=tuple(ids),
        is_voter=is_voter,
        follow_src=src,
        follow_dst=dst,
        follow_tag_sets=follow_sets,
        follow_tag_code=follow_code,
        follow_order=orders,
        ballot_member=ballot_member,
        ballot_stars=ballot_stars,
        ballot_tag_sets=ballot_sets,
        ballot_tag_code=ballot_code,
        tie_break_policy=decision.tie_break_policy,
    )


def _ballot_columns(
    ballots: tuple[DirectBallot, ...], row_of: dict[str, int], choice_index: dict[str, int]
) -> tuple[IntArray, IntArray]:
    """Return each ballot's member row and its stars (a column per choice in input order)."""
    n_choices = len(choice_index)
    who = list(map(attrgetter("member"), ballots))
    rows = _rows(row_of, who, len(who), who.__getitem__)
    if rows.size and rows.min() < 0:
        strangers = [who[i] for i in np.flatnonzero(rows < 0).tolist()]
        raise EngineInputError(f"ballot by non-member {min(map(str, strangers))!r}")
    star_lists = list(map(attrgetter("stars"), ballots))
    flat = list(chain.from_iterable(star_lists))
    if not set(map(len, flat)) <= {2}:
        bad = next(b for b in ballots if any(len(p) != 2 for p in b.stars))
        raise EngineInputError(f"ballot of {bad.member!r}: stars must be (choice, stars) pairs")
    try:
        cols = np.fromiter(map(choice_index.__getitem__, map(itemgetter(0), flat)), np.int64)
    except (KeyError, TypeError):
        _refuse_unknown_choice(ballots, choice_index)
        raise
    owner = np.repeat(
        np.arange(len(ballots), dtype=np.int64),
        np.fromiter(map(len, star_lists), np.int64, len(star_lists)),
    )
    key = owner * n_choices + cols
    if key.size and np.bincount(key).max() > 1:
        key.sort()
        k, col = divmod(int(key[np.flatnonzero(key[1:] == key[:-1])[0]]), n_choices)
        raise EngineInputError(
            f"ballot of {who[k]!r}: choice {list(choice_index)[col]!r} given twice"
        )
    stars = np.zeros((len(ballots), n_choices), dtype=np.int64)
    stars.ravel()[key] = _star_values(ballots, list(map(itemgetter(1), flat)))
    return rows, stars


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


def _following_columns(
    followings: tuple[Following, ...], row_of: dict[str, int]
) -> tuple[IntArray, IntArray, IntArray]:
    """Return each following's follower row, followee row and order; refuse non-members."""
    count = len(followings)
    ends: list[IntArray] = []
    for end in ("follower", "followee"):
        get = attrgetter(end)

        def name_at(i: int, get: attrgetter[str] = get) -> str:
            return get(followings[i])

        rows = _rows(row_of, map(get, followings), count, name_at)
        if count and rows.min() < 0:
            bad = min(
                (followings[int(i)] for i in np.flatnonzero(rows < 0)),
                key=lambda f: (str(f.follower), str(f.followee)),
            )
            raise EngineInputError(
                f"following {bad.follower!r} -> {bad.followee!r}: {end} is not a member"
            )
        ends.append(rows)
    orders = list(map(attrgetter("order"), followings))
    if not set(map(type, orders)) <= {int}:
        bad_order = next((f for f in followings if not _is_int(f.order)), None)
        if bad_order is not None:
            raise EngineInputError(
                f"following {bad_order.follower!r} -> {bad_order.followee!r}: "
                f"order must be an integer, got {bad_order.order!r}"
            )
        orders = [int(order) for order in orders]
    return ends[0], ends[1], np.fromiter(orders, np.int64, count)
