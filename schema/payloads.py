"""Mutation payloads: the changed object under its name, ``errors``, and ``calculations``.

``calculations`` lists the queued calculation of each decision a change affects, so a
client can say "results are being recalculated" at once and follow them by id.
"""

from __future__ import annotations

import strawberry

from schema.calc.types import CalculationType
from schema.democracy.types import (
    BallotType,
    CommunityType,
    DecisionType,
    FollowingType,
    MembershipType,
)
from schema.errors import UserError

CALCULATIONS = "The queued calculation of each open decision this change affects."


def _calculations() -> list[CalculationType]:
    return strawberry.field(default_factory=list, description=CALCULATIONS)


@strawberry.type
class OkPayload:
    ok: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)
    calculations: list[CalculationType] = _calculations()


@strawberry.type
class CommunityPayload:
    community: CommunityType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MembershipPayload:
    membership: MembershipType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
    calculations: list[CalculationType] = _calculations()


@strawberry.type
class FollowingPayload:
    following: FollowingType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
    calculations: list[CalculationType] = _calculations()


@strawberry.type
class DecisionPayload:
    decision: DecisionType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
    calculations: list[CalculationType] = _calculations()


@strawberry.type
class BallotPayload:
    ballot: BallotType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
    calculations: list[CalculationType] = _calculations()


@strawberry.type
class CalculationPayload:
    calculation: CalculationType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
    calculations: list[CalculationType] = _calculations()
