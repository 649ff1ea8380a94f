"""Engine input and output values: frozen, slotted, and free of Django."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

STAR_SCALE = 10**8
"""Stars are integers in units of 10⁻⁸ star, 8 places (see docs/voting-rules.md, "The tally")."""

MAX_STARS = 5
STAR_PLACES = 8


class EngineInputError(ValueError):
    """Malformed engine input; the message names the offending item."""


class Role(StrEnum):
    VOTER = "VOTER"
    LOBBYIST = "LOBBYIST"


class TieBreakPolicy(StrEnum):
    LOT = "LOT"
    UNRESOLVED = "UNRESOLVED"


StarPairs = tuple[tuple[str, int], ...]


def scaled_to_decimal(value: int) -> Decimal:
    """Return an 8-place Decimal for an integer count of 10⁻⁸ stars, without any context."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(int(value)), STAR_SCALE)
    return Decimal(f"{sign}{whole}.{frac:08d}")


E = TypeVar("E", bound=StrEnum)


def coerce_enum(kind: type[E], value: object, what: str) -> E:
    if isinstance(value, kind):
        return value
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise EngineInputError(f"{what}: {value!r} is not one of {allowed}") from None


@dataclass(frozen=True, slots=True)
class Member:
    """One membership of the community, identified by an opaque string id."""

    id: str
    role: Role = Role.VOTER

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", coerce_enum(Role, self.role, f"member {self.id!r} role"))


@dataclass(frozen=True, slots=True)
class Following:
    """``follower`` delegates to ``followee`` on ``tags`` (empty = every topic).

    ``order`` only sorts explanations; it never changes a weight.
    """

    follower: str
    followee: str
    tags: frozenset[str] = frozenset()
    order: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.tags, frozenset):
            object.__setattr__(self, "tags", frozenset(self.tags))


@dataclass(frozen=True, slots=True)
class DirectBallot:
    """A member's own ballot: ``stars`` are ``(choice_id, 0..5)`` pairs sorted by choice id.

    A mapping or any iterable of pairs is accepted and normalised to the sorted tuple, so equal
    ballots compare and hash equal; a choice left out counts as 0 stars. Repeated choice ids
    are kept so that validation can refuse them.
    """

    member: str
    stars: StarPairs
    tags: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        raw: object = self.stars
        pairs = list(raw.items()) if isinstance(raw, Mapping) else list(raw)  # type: ignore[call-overload]
        try:
            normalised = tuple(sorted((tuple(p) for p in pairs), key=lambda p: str(p[0])))
        except (TypeError, IndexError):
            raise EngineInputError(
                f"ballot of {self.member!r}: stars must be (choice, stars) pairs"
            ) from None
        object.__setattr__(self, "stars", normalised)
        if not isinstance(self.tags, frozenset):
            object.__setattr__(self, "tags", frozenset(self.tags))

    @classmethod
    def of(
        cls,
        member: str,
        stars: Mapping[str, int] | Iterable[tuple[str, int]],
        tags: Iterable[str] = (),
    ) -> DirectBallot:
        """Return a ballot from a ``{choice: stars}`` mapping or pairs (typed constructor)."""
        pairs = tuple(stars.items()) if isinstance(stars, Mapping) else tuple(stars)
        return cls(member, pairs, frozenset(tags))

    def star_map(self) -> dict[str, int]:
        """Return the stars as a dict; absent choices are 0."""
        return dict(self.stars)


@dataclass(frozen=True, slots=True)
class FrozenDecision:
    """Everything one calculation reads: choices, members, followings, direct ballots.

    Identity and results never depend on the order of any of these tuples.
    """

    choices: tuple[str, ...]
    members: tuple[Member, ...]
    followings: tuple[Following, ...] = ()
    ballots: tuple[DirectBallot, ...] = ()
    tie_break_policy: TieBreakPolicy = TieBreakPolicy.LOT

    def __post_init__(self) -> None:
        for name in ("choices", "members", "followings", "ballots"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        object.__setattr__(
            self,
            "tie_break_policy",
            coerce_enum(TieBreakPolicy, self.tie_break_policy, "tie-break policy"),
        )

    @property
    def member_count(self) -> int:
        return len(self.members)


class SortedIdIndex(Mapping[str, int]):
    """Map each id of a sorted tuple to its position by binary search (no hash table).

    Building a dict of a million ids costs more than resolving them; lookups by a caller are
    few, so O(log n) each is the better trade.
    """

    __slots__ = ("_ids",)

    def __init__(self, ids: tuple[str, ...]) -> None:
        self._ids = ids

    def __getitem__(self, key: str) -> int:
        i = bisect_left(self._ids, key)
        if i < len(self._ids) and self._ids[i] == key:
            return i
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        i = bisect_left(self._ids, key)
        return i < len(self._ids) and self._ids[i] == key

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


@dataclass(frozen=True, slots=True)
class MemberBallot:
    """One member's resolved ballot: 8-place stars per choice (sorted by choice id)."""

    member: str
    stars: tuple[tuple[str, Decimal], ...]
    tags: tuple[str, ...]
    is_delegated: bool


@dataclass(frozen=True, slots=True, eq=False)
class ResolvedBallots:
    """Every member's resolved ballot, as arrays indexed by ``member_ids`` then ``choice_ids``.

    ``stars`` is int64 in units of 10⁻⁸ star (``STAR_SCALE``), shape (members, choices); rows
    of members without a ballot are 0 and ``has_ballot`` is False for them. Tags are bit sets
    over ``tag_names``: overall bit ``i + 1`` (word ``(i + 1) // 64``) is ``tag_names[i]``;
    bit 0 is always clear. Active followings of delegated members are a CSR structure: for
    member ``i`` the entries ``active_ptr[i]:active_ptr[i + 1]`` hold the followee index, its
    matched-tag bits and the following's order, sorted by (order, followee id).
    ``influence`` is each direct voter's influence in units of 10⁻⁸ (0 for everyone else).
    ``member_index`` maps an id to its row (binary search over ``member_ids``).
    """

    member_ids: tuple[str, ...]
    choice_ids: tuple[str, ...]
    tag_names: tuple[str, ...]
    is_voter: npt.NDArray[np.bool_]
    is_direct: npt.NDArray[np.bool_]
    has_ballot: npt.NDArray[np.bool_]
    stars: npt.NDArray[np.int64]
    tag_bits: npt.NDArray[np.uint64]
    active_ptr: npt.NDArray[np.int64]
    active_followee: npt.NDArray[np.int64]
    active_tag_bits: npt.NDArray[np.uint64]
    active_order: npt.NDArray[np.int64]
    influence: npt.NDArray[np.int64]
    member_index: Mapping[str, int] = field(repr=False)

    @property
    def counted(self) -> npt.NDArray[np.bool_]:
        """Return the mask of ballots the tally counts: VOTER members with a ballot."""
        return self.has_ballot & self.is_voter

    @property
    def is_delegated(self) -> npt.NDArray[np.bool_]:
        """Return the mask of members whose ballot comes from their followings."""
        return self.has_ballot & ~self.is_direct

    def index_of(self, member_id: str) -> int:
        """Return the row of ``member_id``; raise EngineInputError for an unknown id."""
        try:
            return self.member_index[member_id]
        except KeyError:
            raise EngineInputError(f"unknown member {member_id!r}") from None

    def tags_from_bits(self, bits: npt.NDArray[np.uint64]) -> tuple[str, ...]:
        """Return the sorted tag names set in one row of bit words."""
        names: list[str] = []
        for word_no, word in enumerate(bits.tolist()):
            w = int(word)
            while w:
                low = w & -w
                names.append(self.tag_names[word_no * 64 + low.bit_length() - 2])
                w ^= low
        return tuple(sorted(names))

    def member_tags(self, member_id: str) -> tuple[str, ...]:
        """Return the sorted tags of a member's ballot (empty without a ballot)."""
        return self.tags_from_bits(self.tag_bits[self.index_of(member_id)])

    def stars_of(self, index: int) -> tuple[tuple[str, Decimal], ...]:
        """Return one row of stars as (choice id, 8-place Decimal) pairs."""
        row = self.stars[index].tolist()
        return tuple((c, scaled_to_decimal(v)) for c, v in zip(self.choice_ids, row, strict=True))

    def ballot(self, member_id: str) -> MemberBallot | None:
        """Return the member's resolved ballot, or None when they abstain."""
        i = self.index_of(member_id)
        if not self.has_ballot[i]:
            return None
        return MemberBallot(
            member=member_id,
            stars=self.stars_of(i),
            tags=self.tags_from_bits(self.tag_bits[i]),
            is_delegated=not bool(self.is_direct[i]),
        )

    def ballots(self) -> Iterable[MemberBallot]:
        """Yield every resolved ballot in member id order."""
        for i in self.has_ballot.nonzero()[0].tolist():
            ballot = self.ballot(self.member_ids[i])
            assert ballot is not None
            yield ballot


@dataclass(frozen=True, slots=True)
class ChoiceScore:
    """Scoring-round figures of one choice; ``total_scaled`` is the exact integer total."""

    choice: str
    total_stars: Decimal
    average_stars: Decimal
    five_star_count: int
    total_scaled: int


@dataclass(frozen=True, slots=True)
class Runoff:
    """Automatic runoff counts; ``first`` is the finalist placed higher in the scoring round."""

    first: str
    second: str
    prefer_first: int
    prefer_second: int
    no_preference: int


@dataclass(frozen=True, slots=True)
class Participation:
    """Head counts of one calculation.

    ``members``: all members. ``voters``: members with role VOTER. ``direct_ballots`` and
    ``delegated_ballots``: members of any role with a direct or delegated ballot.
    ``abstentions``: members of any role without a ballot. ``counted_ballots``: VOTER members
    with a ballot, the ballots the tally counts.
    """

    members: int
    voters: int
    direct_ballots: int
    delegated_ballots: int
    abstentions: int
    counted_ballots: int


@dataclass(frozen=True, slots=True)
class MemberInfluence:
    """How many counted ballots a direct voter's ballot flows into, weighted (8 places).

    ``influence_scaled`` is the same value as an integer count of 10⁻⁸.
    """

    member: str
    influence: Decimal
    influence_scaled: int


Loader = Callable[[int, int], tuple[tuple[str, ...], tuple[int, ...]]]


class InfluenceRanking:
    """Every direct voter's influence, highest first, equal ones by member id.

    Kept as two parallel tuples (ids, integer counts of 10⁻⁸) rather than one object per
    voter: a million-member community has 200,000 direct voters, and a reader only ever
    shows a page of them (``page``). ``lazy`` builds only the entries asked for, so that
    reading a stored result for its winner or its top five does not pay for the rest.
    """

    __slots__ = ("_loader", "_pairs", "_size")

    def __init__(self, members: Iterable[str], scaled: Iterable[int]) -> None:
        self._pairs: tuple[tuple[str, ...], tuple[int, ...]] | None = (
            tuple(members),
            tuple(scaled),
        )
        self._loader: Loader | None = None
        self._size = len(self._pairs[0])
        if len(self._pairs[1]) != self._size:
            raise EngineInputError("influence: as many values as members are needed")

    @classmethod
    def lazy(cls, size: int, loader: Loader) -> InfluenceRanking:
        """Return a ranking of ``size`` entries; ``loader(start, stop)`` builds a slice."""
        ranking = cls((), ())
        ranking._pairs, ranking._loader, ranking._size = None, loader, size
        return ranking

    def _load(self) -> tuple[tuple[str, ...], tuple[int, ...]]:
        if self._pairs is None:
            assert self._loader is not None
            self._pairs, self._loader = self._loader(0, self._size), None
        return self._pairs

    @property
    def members(self) -> tuple[str, ...]:
        return self._load()[0]

    @property
    def scaled(self) -> tuple[int, ...]:
        return self._load()[1]

    def __len__(self) -> int:
        return self._size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InfluenceRanking):
            return NotImplemented
        return self._load() == other._load()

    def __hash__(self) -> int:
        return hash(self._load())

    def __repr__(self) -> str:
        return f"InfluenceRanking({len(self)} direct voters)"

    def page(self, offset: int, limit: int) -> tuple[MemberInfluence, ...]:
        """Return ``limit`` entries from ``offset`` (fewer at the end)."""
        end = min(offset + max(limit, 0), self._size)
        if self._loader is not None:
            members, scaled = self._loader(offset, max(end, offset))
        else:
            members, scaled = self._load()
            members, scaled = members[offset:end], scaled[offset:end]
        return tuple(
            MemberInfluence(m, scaled_to_decimal(v), v)
            for m, v in zip(members, scaled, strict=True)
        )

    def as_dict(self) -> dict[str, int]:
        """Return each member's influence in units of 10⁻⁸."""
        return dict(zip(*self._load(), strict=True))


@dataclass(frozen=True, slots=True)
class StarResult:
    """The STAR tally of one decision.

    ``scores`` are in choice id order. ``winner`` is None when no ballot is counted or an
    UNRESOLVED draw is reached; then ``tied_choices`` names the choices the draw was between.
    ``tiebreaks`` lists every tiebreak step applied, in words, in order. ``influence`` has
    every direct voter's influence, highest first, equal ones by member id; None for a
    result stored before influence was computed.
    """

    scores: tuple[ChoiceScore, ...]
    finalists: tuple[str, ...]
    runoff: Runoff | None
    winner: str | None
    tied_choices: tuple[str, ...]
    tiebreaks: tuple[str, ...]
    participation: Participation
    content_hash: str
    tie_break_policy: TieBreakPolicy
    protocol: str
    influence: InfluenceRanking | None = None

    def score(self, choice: str) -> ChoiceScore:
        """Return the score of one choice by id."""
        for s in self.scores:
            if s.choice == choice:
                return s
        raise EngineInputError(f"unknown choice {choice!r}")


@dataclass(frozen=True, slots=True)
class ExplanationSource:
    """One active following of a delegated member, as it contributed to the ballot.

    ``explanation`` is None when the delegate is already explained elsewhere in this tree
    (``cycle`` is True when that delegate is on the path from the root to here) or when
    the requested depth is reached.
    """

    delegate: str
    matched_tags: tuple[str, ...]
    weight: Decimal
    stars: tuple[tuple[str, Decimal], ...]
    order: int
    cycle: bool
    explanation: Explanation | None


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a member's ballot is what it is: direct, or each active following in turn."""

    member: str
    is_delegated: bool
    tags: tuple[str, ...]
    stars: tuple[tuple[str, Decimal], ...]
    sources: tuple[ExplanationSource, ...]
