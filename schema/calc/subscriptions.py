"""Subscriptions: each calculation's status changes, and each new result of a decision.

A subscription joins the decision's group before it reads the current state, so nothing
falls between the read and the first broadcast; broadcasts carry the whole state, and any
that repeats or precedes what was already sent is skipped. ``schema.calc.access`` keeps the
viewer's access checked while it is open and ends it when access goes.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from channels.db import database_sync_to_async
from strawberry.channels import ChannelsConsumer

from calc import results
from calc.broadcast import calculation_from_message, choices_from_message
from calc.models import Calculation, CalculationStatus
from democracy.models import Choice, Decision
from schema.calc.access import decision_statuses, viewer_of
from schema.calc.types import CalculationType, DecisionResultsType, results_type
from schema.context import Info, global_pk

STAGE = {status: rank for rank, status in enumerate(CalculationStatus.values)}
STAGE[CalculationStatus.FAILED] = STAGE[CalculationStatus.COMPLETED]


@database_sync_to_async
def _current_calculation(decision: Decision) -> Calculation | None:
    return results.calculation_latest(decision)


@database_sync_to_async
def _current_results(decision: Decision) -> DecisionResultsType | None:
    calculation = results.calculation_latest_completed(decision.pk)
    if calculation is None:
        return None
    return results_type(calculation, list(Choice.objects.filter(decision_id=decision.pk)))


@strawberry.type
class CalcSubscription:
    @strawberry.subscription(graphql_type=CalculationType)
    async def calculation_status(
        self, info: Info, decision_id: strawberry.ID
    ) -> AsyncGenerator[Calculation, None]:
        """The decision's latest calculation at once, then each status change of each one."""
        sent: dict[int, int] = {}
        ws: ChannelsConsumer = info.context["ws"]
        pk = global_pk(decision_id, type_name="Decision")
        async with decision_statuses(ws, viewer_of(ws.scope), pk) as (decision, messages):
            current = await _current_calculation(decision)
            if current is not None:
                sent[current.pk] = STAGE[current.status]
                yield current
            async for message in messages:
                calculation = calculation_from_message(message)
                stage = STAGE[calculation.status]
                if sent.get(calculation.pk, -1) >= stage:
                    continue
                sent[calculation.pk] = stage
                yield calculation

    @strawberry.subscription
    async def decision_results(
        self, info: Info, decision_id: strawberry.ID
    ) -> AsyncGenerator[DecisionResultsType, None]:
        """The decision's current result at once (if any), then each new one."""
        newest = 0
        ws: ChannelsConsumer = info.context["ws"]
        pk = global_pk(decision_id, type_name="Decision")
        async with decision_statuses(ws, viewer_of(ws.scope), pk) as (decision, messages):
            current = await _current_results(decision)
            if current is not None:
                newest = current.calculation.pk
                yield current
            async for message in messages:
                calculation = calculation_from_message(message)
                if calculation.status != CalculationStatus.COMPLETED or calculation.pk <= newest:
                    continue
                newest = calculation.pk
                yield results_type(calculation, choices_from_message(message))
