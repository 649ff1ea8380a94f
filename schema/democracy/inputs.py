"""Mutation inputs, named as in docs/api.md.

Optional inputs with defaults are nullable as docs/api.md writes them; an explicit null
means the default.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from democracy.models import TieBreakPolicy
from schema.democracy.types import RoleEnum, TieBreakPolicyEnum


@strawberry.input
class ChoiceInput:
    title: str
    description: str | None = ""


@strawberry.input
class StarsInput:
    choice_id: strawberry.ID
    stars: int


@strawberry.input
class CreateCommunityInput:
    name: str
    description: str | None = ""
    auto_approve_applications: bool | None = True
    tie_break_policy: TieBreakPolicyEnum | None = TieBreakPolicy.LOT
    results_are_public: bool | None = False


@strawberry.input
class UpdateCommunityInput:
    community_id: strawberry.ID
    name: str | None = None
    description: str | None = None
    auto_approve_applications: bool | None = None
    tie_break_policy: TieBreakPolicyEnum | None = None
    results_are_public: bool | None = None


@strawberry.input
class CreateDecisionInput:
    community_id: strawberry.ID
    title: str
    closes_at: datetime
    choices: list[ChoiceInput]
    description: str | None = ""


@strawberry.input
class UpdateDecisionInput:
    decision_id: strawberry.ID
    title: str | None = None
    description: str | None = None
    closes_at: datetime | None = None
    choices: list[ChoiceInput] | None = None


@strawberry.input
class FollowInput:
    community_id: strawberry.ID
    followee_id: strawberry.ID
    tags: list[str] | None = strawberry.field(default_factory=list)
    order: int | None = None


@strawberry.input
class CastBallotInput:
    decision_id: strawberry.ID
    stars: list[StarsInput]
    tags: list[str] | None = strawberry.field(default_factory=list)
    comment: str | None = ""


@strawberry.input
class UpdateMembershipInput:
    membership_id: strawberry.ID
    role: RoleEnum | None = None
    is_manager: bool | None = None
    is_anonymous: bool | None = None
    is_approved: bool | None = None
