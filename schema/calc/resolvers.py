"""Reads behind the calculation fields of ``Decision``: thin wrappers over calc.results."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from django.db.models import Model, Prefetch

from calc import results
from calc.models import Calculation
from democracy import selectors
from democracy.models import Ballot, Choice, Decision, Membership
from schema.calc.batches import ReadTogether
from schema.calc.types import (
    BallotExplanationType,
    DecisionResultsType,
    ballot_type,
    explanation_type,
    results_type,
)
from schema.context import Info, current_user, global_pk
from schema.democracy.types import VIEWER_MEMBERSHIPS, BallotType, direct_ballot

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User


# A page of decisions read by the optimizer prefetches what these fields read, each for the
# whole page in one query; a decision read alone falls back to its own queries.
CURRENT_RESULTS = "current_results"
LATEST_CALCULATIONS = "latest_calculations"
ORDERED_CHOICES = "ordered_choices"
VIEWER_BALLOTS = "viewer_ballots"
ModelT = TypeVar("ModelT", bound=Model)


def prefetch_current_results(info: Info) -> Prefetch[str]:
    # Read together, so that a page of their ballots is read for all at once too.
    current = results.calculations_completed_of_each(ReadTogether(Calculation))
    return Prefetch("calculations", current.select_related("decision"), to_attr=CURRENT_RESULTS)


def prefetch_latest_calculation(info: Info) -> Prefetch[str]:
    return Prefetch(
        "calculations", results.calculations_latest_of_each(), to_attr=LATEST_CALCULATIONS
    )


def prefetch_choices(info: Info) -> Prefetch[str]:
    return Prefetch("choices", Choice.objects.all(), to_attr=ORDERED_CHOICES)


def prefetch_viewer_ballot(info: Info) -> Prefetch[str]:
    user = current_user(info)
    mine = Ballot.objects.none()
    if user.is_authenticated:
        mine = (
            Ballot.objects.filter(membership__user_id=user.pk)
            .select_related("membership__user")
            .prefetch_related("stars")
        )
    return Prefetch("ballots", mine, to_attr=VIEWER_BALLOTS)


def prefetch_viewer_membership(info: Info) -> Prefetch[str]:
    user = current_user(info)
    mine = Membership.objects.none()
    if user.is_authenticated:
        mine = Membership.objects.filter(user_id=user.pk).select_related("user")
    return Prefetch("community__memberships", mine, to_attr=VIEWER_MEMBERSHIPS)


def _first(owner: object, attr: str, read: Callable[[], ModelT | None]) -> ModelT | None:
    """Return the object prefetched under ``attr`` (a list of at most one), else read it."""
    found: list[ModelT] | None = getattr(owner, attr, None)
    if found is None:
        return read()
    return found[0] if found else None


def _current(decision: Decision) -> Calculation | None:
    return _first(
        decision, CURRENT_RESULTS, lambda: results.calculation_latest_completed(decision.pk)
    )


def _choices(decision: Decision) -> list[Choice]:
    found: list[Choice] | None = getattr(decision, ORDERED_CHOICES, None)
    return list(decision.choices.all()) if found is None else found


def decision_calculation(decision: Decision) -> Calculation | None:
    return _first(decision, LATEST_CALCULATIONS, lambda: results.calculation_latest(decision))


def decision_results(decision: Decision) -> DecisionResultsType | None:
    calculation = _current(decision)
    if calculation is None:
        return None
    calculation.decision = decision  # Its ballots read the community: no query for it.
    return results_type(calculation, _choices(decision))


def _viewer_membership(user: User, decision: Decision) -> Membership | None:
    community = decision.community if Decision.community.is_cached(decision) else None
    return _first(
        community,
        VIEWER_MEMBERSHIPS,
        lambda: (
            Membership.objects.filter(user_id=user.pk, community_id=decision.community_id)
            .select_related("user")
            .first()
        ),
    )


def my_ballot(user: User | AnonymousUser, decision: Decision) -> BallotType | None:
    if not user.is_authenticated:
        return None
    choices = _choices(decision)
    ballot = _first(decision, VIEWER_BALLOTS, lambda: selectors.ballot_for(user, decision))
    if ballot is not None:
        return direct_ballot(ballot, choices)
    membership = _viewer_membership(user, decision)
    calculation = _current(decision)
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
