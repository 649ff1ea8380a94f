"""Subscription ``myBallot``: the viewer's own ballot in the current result, kept current.

It sends the ballot at once, then again whenever a new result changes it (a delegate voted,
a following changed, the viewer voted), compared with what it last sent. Only approved
members may open it, and ``schema.calc.access`` ends it when that stops being true.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, TypeAlias

import strawberry
from channels.db import database_sync_to_async
from strawberry.channels import ChannelsConsumer
from strawberry.relay import to_base64

from calc import results
from calc.broadcast import calculation_from_message
from calc.models import Calculation, CalculationStatus
from calc.my_ballot import (
    ABSTENTION_MESSAGES,
    AbstentionReason,
    BallotStanding,
    MemberStanding,
    member_standing,
)
from democracy.models import Choice, Membership
from schema.calc.access import decision_access, viewer_of
from schema.calc.types import BallotSourceType, explanation_type
from schema.context import Info, global_pk
from schema.democracy.types import ChoiceStarsType, MembershipType

BallotStandingEnum: TypeAlias = Annotated[BallotStanding, strawberry.enum(name="BallotStanding")]
AbstentionReasonEnum: TypeAlias = Annotated[
    AbstentionReason, strawberry.enum(name="AbstentionReason")
]


@strawberry.type(name="MyBallot")
class MyBallotType:
    calculation_id: strawberry.ID | None = strawberry.field(
        description="The result this ballot was read from; null before the first result."
    )
    membership: Membership = strawberry.field(graphql_type=MembershipType)
    standing: BallotStandingEnum
    is_counted: bool = strawberry.field(
        description="Whether the tally counts it: false for a lobbyist's ballot or none."
    )
    tags: list[str]
    stars: list[ChoiceStarsType] = strawberry.field(
        description="Every choice's stars; empty without a ballot."
    )
    sources: list[BallotSourceType] = strawberry.field(
        description="The delegates a delegated ballot averages, in order (their own "
        "explanation is null here; `Decision.explanation` gives the whole tree)."
    )
    abstention_reason: AbstentionReasonEnum | None
    abstention_message: str | None


@database_sync_to_async
def _standing(calculation: Calculation | None, membership_pk: int) -> MemberStanding:
    return member_standing(calculation, membership_pk)


@database_sync_to_async
def _current(decision_pk: int) -> Calculation | None:
    return results.calculation_latest_completed(decision_pk)


@database_sync_to_async
def _shown(
    standing: MemberStanding,
    calculation: Calculation | None,
    membership_pk: int,
    community_pk: int,
    decision_pk: int,
) -> MyBallotType:
    """Return a standing as the API shows it, with memberships and choices from the database."""
    choices = {str(c.pk): c for c in Choice.objects.filter(decision_id=decision_pk)}
    calculation_id = (
        None if calculation is None else strawberry.ID(to_base64("Calculation", calculation.pk))
    )
    reason = standing.abstention
    if standing.explanation is None:
        return MyBallotType(
            calculation_id=calculation_id,
            membership=Membership.objects.select_related("user").get(pk=membership_pk),
            standing=standing.standing,
            is_counted=False,
            tags=[],
            stars=[],
            sources=[],
            abstention_reason=reason,
            abstention_message=None if reason is None else ABSTENTION_MESSAGES[reason],
        )
    explained = explanation_type(standing.explanation, community_pk, choices)
    return MyBallotType(
        calculation_id=calculation_id,
        membership=explained.membership,
        standing=standing.standing,
        is_counted=standing.is_counted,
        tags=explained.tags,
        stars=explained.stars,
        sources=explained.sources,
        abstention_reason=None,
        abstention_message=None,
    )


@strawberry.type
class MyBallotSubscription:
    @strawberry.subscription
    async def my_ballot(
        self, info: Info, decision_id: strawberry.ID
    ) -> AsyncGenerator[MyBallotType, None]:
        """Your ballot in the decision's current result at once, then each time it changes.

        Signed-in approved members only.
        """
        ws: ChannelsConsumer = info.context["ws"]
        pk = global_pk(decision_id, type_name="Decision")
        async with decision_access(ws, viewer_of(ws.scope), pk, member_only=True) as (
            access,
            messages,
        ):
            decision = access.decision
            membership_pk = access.membership_pk
            assert membership_pk is not None
            calculation = await _current(decision.pk)
            newest = 0 if calculation is None else calculation.pk
            sent = await _standing(calculation, membership_pk)
            yield await _shown(sent, calculation, membership_pk, decision.community_id, decision.pk)
            async for message in messages:
                calculation = calculation_from_message(message)
                if calculation.status != CalculationStatus.COMPLETED or calculation.pk <= newest:
                    continue
                newest = calculation.pk
                standing = await _standing(calculation, membership_pk)
                if standing == sent:
                    continue
                sent = standing
                yield await _shown(
                    standing, calculation, membership_pk, decision.community_id, decision.pk
                )
