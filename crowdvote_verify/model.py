"""The verifier's own input types: a frozen decision as plain values, with no engine behind it.

The reference reads any object shaped like these (the engine's ``FrozenDecision`` is one), so
the tests can hand it engine input while a voter's file is read into these dataclasses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Protocol

VOTER = "VOTER"
LOBBYIST = "LOBBYIST"
LOT = "LOT"
UNRESOLVED = "UNRESOLVED"


class MemberLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def role(self) -> str: ...


class FollowingLike(Protocol):
    @property
    def follower(self) -> str: ...
    @property
    def followee(self) -> str: ...
    @property
    def tags(self) -> AbstractSet[str]: ...
    @property
    def order(self) -> int: ...


class BallotLike(Protocol):
    @property
    def member(self) -> str: ...
    @property
    def stars(self) -> Iterable[tuple[str, int]]: ...
    @property
    def tags(self) -> AbstractSet[str]: ...


class DecisionLike(Protocol):
    @property
    def choices(self) -> Sequence[str]: ...
    @property
    def members(self) -> Sequence[MemberLike]: ...
    @property
    def followings(self) -> Sequence[FollowingLike]: ...
    @property
    def ballots(self) -> Sequence[BallotLike]: ...
    @property
    def tie_break_policy(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    role: str


@dataclass(frozen=True, slots=True)
class Following:
    follower: str
    followee: str
    tags: frozenset[str]
    order: int


@dataclass(frozen=True, slots=True)
class Ballot:
    """A direct ballot: ``stars`` are (choice id, 0..5) pairs; a choice left out is 0."""

    member: str
    stars: tuple[tuple[str, int], ...]
    tags: frozenset[str]


@dataclass(frozen=True, slots=True)
class Decision:
    choices: tuple[str, ...]
    members: tuple[Member, ...]
    followings: tuple[Following, ...]
    ballots: tuple[Ballot, ...]
    tie_break_policy: str
