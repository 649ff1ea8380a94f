"""The GraphQL type of decisions, apart from the other democracy types.

Its result fields read calculations through ``schema.calc``, which builds on
``schema.democracy.types``: this module sits above both, so no import goes in a circle.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import strawberry
import strawberry_django
from django.db.models import QuerySet
from strawberry import relay
from strawberry_django.relay import DjangoListConnection

from calc.models import Calculation
from democracy import models, selectors
from schema.calc import history, resolvers
from schema.calc.history import ResultsHistoryConnection
from schema.calc.types import BallotExplanationType, CalculationType, DecisionResultsType
from schema.context import Info, current_user
from schema.democracy.types import BallotType, ChoiceType, CommunityType, DecisionStatusEnum


@strawberry_django.type(models.Decision, name="Decision")
class DecisionType(relay.Node):
    title: str
    description: str
    status: DecisionStatusEnum
    closes_at: datetime
    community: CommunityType
    choices: list[ChoiceType]

    @strawberry_django.field(
        only=["id", "community_id"],
        prefetch_related=[
            resolvers.prefetch_viewer_ballot,
            resolvers.prefetch_viewer_membership,
            resolvers.prefetch_current_results,
            resolvers.prefetch_choices,
        ],
    )
    def my_ballot(self, root: models.Decision, info: Info) -> BallotType | None:
        """The caller's direct ballot, else their delegated one in the current result."""
        return resolvers.my_ballot(current_user(info), root)

    @strawberry_django.field(
        only=["id", "community_id"],
        prefetch_related=[resolvers.prefetch_current_results, resolvers.prefetch_choices],
    )
    def results(
        self, root: models.Decision, at: datetime | None = None
    ) -> DecisionResultsType | None:
        """The latest completed calculation's result (the final one once closed).

        With ``at`` (with its time zone): the result in force at that moment, by the same
        rule among the calculations finished by then; null before the first.
        """
        if at is not None:
            return history.results_at(root, at)
        return resolvers.decision_results(root)

    @strawberry_django.field(only=["id"])
    def results_history(
        self, root: models.Decision, first: int | None = None, after: str | None = None
    ) -> ResultsHistoryConnection:
        """Every completed calculation's result in brief, newest first.

        ``first`` defaults to, and may not exceed, the API's page size.
        """
        return history.results_history(root, first, after)

    @strawberry_django.field(
        only=["id"],
        prefetch_related=[resolvers.prefetch_latest_calculation],
        graphql_type=CalculationType | None,
    )
    def calculation(self, root: models.Decision) -> Calculation | None:
        """The latest calculation, whatever its status."""
        return resolvers.decision_calculation(root)

    @strawberry_django.connection(DjangoListConnection[CalculationType])
    def snapshots(self, root: models.Decision) -> Iterable[Calculation]:
        """Every calculation of this decision, newest first, each with its frozen input."""
        return Calculation.objects.filter(decision_id=root.pk)

    @strawberry_django.field(only=["id", "community_id"])
    def explanation(
        self, root: models.Decision, membership_id: strawberry.ID, max_depth: int | None = 10
    ) -> BallotExplanationType | None:
        """How a member's ballot came about in the current result; null without a ballot.

        ``maxDepth`` bounds how many levels of delegates are expanded (null: all).
        """
        return resolvers.decision_explanation(root, membership_id, max_depth)

    @classmethod
    def get_queryset(
        cls, queryset: QuerySet[models.Decision], info: Info, **kwargs: object
    ) -> QuerySet[models.Decision]:
        return queryset.filter(selectors.decision_visible_to(current_user(info)))
