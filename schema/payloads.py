"""Mutation payloads: the changed object under its name, ``errors``, and ``calculations``.

``calculations`` lists the queued calculation of each decision a change affects, so a
client can say "results are being recalculated" at once and follow them by id; ``message``
says it in words a front end can show as is.

A payload holds the model a service returned; ``graphql_type`` names the type it shows as.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import strawberry
from strawberry.types.nodes import SelectedField, Selection
from strawberry_django.resolvers import django_resolver

from calc.models import Calculation
from democracy import models
from democracy.selectors import decision_list_visible
from schema.calc.types import CalculationType
from schema.context import current_user
from schema.democracy.decision import DecisionType
from schema.democracy.types import BallotType, CommunityType, FollowingType, MembershipType
from schema.errors import UserError

CALCULATIONS = "The queued calculation of each open decision this change affects."
MESSAGE = "What happened, to show as is (e.g. a toast); null when the mutation failed."
RECALCULATING = "Results are being recalculated…"


def confirmation(headline: str, calculations: list[Calculation] | bool) -> str:
    """Return ``headline``, and that results are being recalculated when they are."""
    return f"{headline} {RECALCULATING}" if calculations else headline


def asks_for(info: strawberry.Info[Any, None], name: str) -> bool:
    """Return whether the client selected the field ``name`` of the current field's type,
    directly or in a fragment (whatever its directives: selected may mean wanted)."""
    return any(_among(field.selections, name) for field in info.selected_fields)


def _among(selections: list[Selection], name: str) -> bool:
    return any(
        selection.name == name
        if isinstance(selection, SelectedField)
        else _among(selection.selections, name)
        for selection in selections
    )


def _queued() -> Any:
    return dataclasses.field(default_factory=list)


def _visible_calculations(root: Any, info: strawberry.Info[Any, None]) -> list[Calculation]:
    # A change may queue calculations the caller cannot see: an applicant waiting for
    # approval, or a member who just left, must not read the community's decisions here.
    queued: list[Calculation] = root.calculations
    if not queued:
        return []
    visible = set(
        decision_list_visible(current_user(info))
        .filter(pk__in={calculation.decision_id for calculation in queued})
        .values_list("pk", flat=True)
    )
    return [calculation for calculation in queued if calculation.decision_id in visible]


def _calculations() -> Any:
    return strawberry.field(
        # Over a websocket fields resolve on the event loop: the query runs in a thread.
        resolver=django_resolver(_visible_calculations),
        name="calculations",
        graphql_type=list[CalculationType],
        description=CALCULATIONS,
    )


def _message() -> Any:
    return strawberry.field(default=None, description=MESSAGE)


def _changed(graphql_type: type) -> Any:
    return strawberry.field(default=None, graphql_type=graphql_type | None)


@strawberry.type
class OkPayload:
    ok: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)
    calculations: strawberry.Private[list[Calculation]] = _queued()
    visible_calculations: list[Calculation] = _calculations()
    message: str | None = _message()


@strawberry.type
class CommunityPayload:
    community: models.Community | None = _changed(CommunityType)
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MembershipPayload:
    membership: models.Membership | None = _changed(MembershipType)
    errors: list[UserError] = strawberry.field(default_factory=list)
    calculations: strawberry.Private[list[Calculation]] = _queued()
    visible_calculations: list[Calculation] = _calculations()
    message: str | None = _message()


@strawberry.type
class FollowingPayload:
    following: models.Following | None = _changed(FollowingType)
    errors: list[UserError] = strawberry.field(default_factory=list)
    calculations: strawberry.Private[list[Calculation]] = _queued()
    visible_calculations: list[Calculation] = _calculations()
    message: str | None = _message()


@strawberry.type
class DecisionPayload:
    decision: models.Decision | None = _changed(DecisionType)
    errors: list[UserError] = strawberry.field(default_factory=list)
    calculations: strawberry.Private[list[Calculation]] = _queued()
    visible_calculations: list[Calculation] = _calculations()
    message: str | None = _message()


@strawberry.type
class BallotPayload:
    ballot: BallotType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
    calculations: strawberry.Private[list[Calculation]] = _queued()
    visible_calculations: list[Calculation] = _calculations()
    message: str | None = _message()


@strawberry.type
class CalculationPayload:
    calculation: Calculation | None = _changed(CalculationType)
    errors: list[UserError] = strawberry.field(default_factory=list)
    calculations: strawberry.Private[list[Calculation]] = _queued()
    visible_calculations: list[Calculation] = _calculations()
    message: str | None = _message()
