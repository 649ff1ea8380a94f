"""Mutation payloads: the changed object under its name, plus ``errors``."""

from __future__ import annotations

import strawberry

from schema.democracy.types import (
    BallotType,
    CommunityType,
    DecisionType,
    FollowingType,
    MembershipType,
)
from schema.errors import UserError


@strawberry.type
class OkPayload:
    ok: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CommunityPayload:
    community: CommunityType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MembershipPayload:
    membership: MembershipType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class FollowingPayload:
    following: FollowingType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DecisionPayload:
    decision: DecisionType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class BallotPayload:
    ballot: BallotType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
