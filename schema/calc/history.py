"""``Decision.resultsHistory`` and ``Decision.results(at:)``: a decision's results over time.

A page costs the same few queries whatever its size: the calculations (their stored
results included), their count and the decision's choices.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from django.conf import settings
from graphql import GraphQLError
from strawberry import relay
from strawberry.relay import to_base64

from calc import history, results
from calc.models import Calculation
from core.times import representable_in_utc
from democracy.models import Choice, Decision
from schema.calc.types import ChoiceScoreType, DecisionResultsType, results_type, score_types
from schema.democracy.types import ChoiceType
from schema.errors import ErrorCode

CURSOR_TYPE = "ResultsHistory"
NAIVE_AT = "Give `at` with its time zone, for example 2026-05-01T12:00:00Z."
AT_OUT_OF_RANGE = "Give `at` between the years 1 and 9999 in UTC."
# Page arguments are refused with the words of every other connection's (Strawberry's).
BAD_CURSOR = "Argument 'after' contains a non-existing value."
NEGATIVE_FIRST = "Argument 'first' must be a non-negative integer."
TOO_MANY = "Argument 'first' cannot be higher than {limit}."


@strawberry.type(name="ResultsHistoryEntry")
class ResultsHistoryEntryType:
    calculation_id: strawberry.ID
    calculated_at: datetime
    trigger: str = strawberry.field(description="What asked for this calculation.")
    is_final: bool
    winner: Choice | None = strawberry.field(graphql_type=ChoiceType | None)
    tied_choices: list[Choice] = strawberry.field(graphql_type=list[ChoiceType])
    scores: list[ChoiceScoreType] = strawberry.field(
        description="Each choice's stars in this result, in the decision's order."
    )
    counted_ballots: int


@strawberry.type(name="ResultsHistoryEdge")
class ResultsHistoryEdge:
    cursor: str
    node: ResultsHistoryEntryType


@strawberry.type(name="ResultsHistoryConnection")
class ResultsHistoryConnection:
    edges: list[ResultsHistoryEdge]
    page_info: relay.PageInfo
    total_count: int


def _before(after: str | None) -> int | None:
    if after is None:
        return None
    try:
        type_name, raw = relay.from_base64(after)
    except (ValueError, TypeError):
        raise GraphQLError(BAD_CURSOR) from None
    if type_name != CURSOR_TYPE or not raw.isdigit():
        raise GraphQLError(BAD_CURSOR)
    return int(raw)


def _entry(calculation: Calculation, by_id: dict[str, Choice]) -> ResultsHistoryEntryType:
    result = results.calculation_result(calculation)
    assert calculation.finished_at is not None
    return ResultsHistoryEntryType(
        calculation_id=strawberry.ID(to_base64("Calculation", calculation.pk)),
        calculated_at=calculation.finished_at,
        trigger=calculation.trigger,
        is_final=calculation.is_final,
        winner=by_id.get(result.winner or ""),
        tied_choices=[by_id[c] for c in result.tied_choices],
        scores=score_types(result, by_id),
        counted_ballots=result.participation.counted_ballots,
    )


def results_history(
    decision: Decision, first: int | None, after: str | None
) -> ResultsHistoryConnection:
    """A page of the decision's completed calculations, newest first."""
    limit = settings.GRAPHQL_MAX_PAGE_SIZE
    if first is not None and first < 0:
        raise GraphQLError(NEGATIVE_FIRST)
    if first is not None and first > limit:
        raise GraphQLError(TOO_MANY.format(limit=limit))
    before = _before(after)
    page, more = history.calculations_completed_page(
        decision.pk, before=before, limit=limit if first is None else first
    )
    by_id = {str(c.pk): c for c in Choice.objects.filter(decision_id=decision.pk)}
    edges = [
        ResultsHistoryEdge(cursor=to_base64(CURSOR_TYPE, c.pk), node=_entry(c, by_id)) for c in page
    ]
    return ResultsHistoryConnection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=more,
            has_previous_page=before is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=history.calculations_completed_count(decision.pk),
    )


def results_at(decision: Decision, at: datetime) -> DecisionResultsType | None:
    """The result in force at ``at`` (an aware datetime), or None before the first."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise GraphQLError(NAIVE_AT, extensions={"code": ErrorCode.INVALID.value, "field": "at"})
    if not representable_in_utc(at):
        # Refused as its naive sibling is: the same argument, the same code to match on.
        raise GraphQLError(
            AT_OUT_OF_RANGE, extensions={"code": ErrorCode.INVALID.value, "field": "at"}
        )
    calculation = history.calculation_in_force(decision.pk, at)
    if calculation is None:
        return None
    return results_type(calculation, list(Choice.objects.filter(decision_id=decision.pk)))
