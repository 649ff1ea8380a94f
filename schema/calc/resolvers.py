"""Reads behind the calculation fields of ``Decision``: thin wrappers over calc.results."""

from __future__ import annotations

from typing import TYPE_CHECKING

from calc import results
from democracy import selectors
from democracy.models import Decision, Membership
from schema.calc.types import (
    BallotExplanationType,
    DecisionResultsType,
    ballot_type,
    explanation_type,
    results_type,
)
from schema.context import global_pk
from schema.democracy.types import BallotType, direct_ballot

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User


def decision_results(decision: Decision) -> DecisionResultsType | None:
    calculation = results.calculation_latest_completed(decision.pk)
    if calculation is None:
        return None
    return results_type(calculation, list(decision.choices.all()))


def my_ballot(user: User | AnonymousUser, decision: Decision) -> BallotType | None:
    ballot = selectors.ballot_for(user, decision)
    choices = list(decision.choices.all())
    if ballot is not None:
        return direct_ballot(ballot, choices)
    if not user.is_authenticated:
        return None
    membership = (
        Membership.objects.filter(user_id=user.pk, community_id=decision.community_id)
        .select_related("user")
        .first()
    )
    calculation = results.calculation_latest_completed(decision.pk)
    if membership is None or calculation is None:
        return None
    resolved = results.ballot_resolved(calculation, membership.pk)
    if resolved is None or not resolved.is_delegated:
        return None  # A direct ballot in the result was retracted since.
    by_id = {str(c.pk): c for c in choices}
    return ballot_type(resolved, {str(membership.pk): membership}, by_id)


def decision_explanation(
    decision: Decision, membership_id: str, max_depth: int | None
) -> BallotExplanationType | None:
    pk = global_pk(membership_id, type_name="Membership")
    if pk is None:
        return None  # Like node(id:): an ID that names nothing finds nothing.
    calculation = results.calculation_latest_completed(decision.pk)
    if calculation is None:
        return None
    explanation = results.explanation_of(calculation, pk, max_depth=max_depth)
    if explanation is None:
        return None
    choices = {str(c.pk): c for c in decision.choices.all()}
    return explanation_type(explanation, decision.community_id, choices)
