"""GraphQL types of calculations, results and explanations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, TypeAlias

import strawberry
import strawberry_django
from django.db.models import QuerySet
from strawberry import relay
from strawberry.relay import to_base64

from calc import results
from calc.engine import Explanation, InfluenceRanking, MemberBallot
from calc.models import Calculation, CalculationStatus
from democracy import selectors
from democracy.models import Choice, Membership, Role
from schema.context import Info, current_user
from schema.democracy.types import (
    BallotType,
    ChoiceStarsType,
    ChoiceType,
    MembershipType,
    stars_decimal,
)

if TYPE_CHECKING:
    from schema.democracy.decision import DecisionType

CalculationStatusEnum: TypeAlias = Annotated[
    CalculationStatus, strawberry.enum(name="CalculationStatus")
]
MAX_PAGE = 100


@strawberry_django.type(Calculation, name="Calculation")
class CalculationType(relay.Node):
    decision: Annotated[DecisionType, strawberry.lazy("schema.democracy.decision")]
    status: CalculationStatusEnum
    is_final: bool
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    trigger: str
    change_count: int = strawberry_django.field(
        description="How many changes this calculation covers: its trigger and any that "
        "arrived while it was queued."
    )
    retry_count: int
    generation: int

    @strawberry_django.field(only=["error"])
    def error(self, root: Calculation) -> str | None:
        return root.error or None

    @strawberry_django.field(only=["failed_stage"])
    def failed_stage(self, root: Calculation) -> CalculationStatusEnum | None:
        return CalculationStatus(root.failed_stage) if root.failed_stage else None

    @strawberry_django.field(only=["content_hash"])
    def content_hash(self, root: Calculation) -> str | None:
        """SHA-256 of the frozen input; it seeds the tie lot."""
        return root.content_hash or None

    @classmethod
    def get_queryset(
        cls, queryset: QuerySet[Calculation], info: Info, **kwargs: object
    ) -> QuerySet[Calculation]:
        visible = selectors.decision_list_visible(current_user(info))
        return queryset.filter(decision__in=visible)


@strawberry.type(name="ChoiceScore")
class ChoiceScoreType:
    choice: Choice = strawberry.field(graphql_type=ChoiceType)
    total_stars: Decimal
    average_stars: Decimal
    five_star_count: int


@strawberry.type(name="Runoff")
class RunoffType:
    first: Choice = strawberry.field(graphql_type=ChoiceType)
    second: Choice = strawberry.field(graphql_type=ChoiceType)
    prefer_first: int
    prefer_second: int
    no_preference: int


@strawberry.type(name="Participation")
class ParticipationType:
    members: int
    voters: int
    direct_ballots: int
    delegated_ballots: int
    abstentions: int
    counted_ballots: int


@strawberry.type(name="BallotEdge")
class BallotEdge:
    cursor: str
    node: BallotType


@strawberry.type(name="BallotConnection")
class BallotConnection:
    edges: list[BallotEdge]
    page_info: relay.PageInfo
    total_count: int | None


@strawberry.type(name="InfluenceEdge")
class InfluenceEdge:
    cursor: str
    node: Membership = strawberry.field(graphql_type=MembershipType)
    influence: Decimal = strawberry.field(
        description="How many counted ballots this member's own ballot flows into, weighted."
    )


@strawberry.type(name="InfluenceConnection")
class InfluenceConnection:
    edges: list[InfluenceEdge]
    page_info: relay.PageInfo
    total_count: int | None


def _members(ids: Iterable[str], community_id: int) -> dict[str, Membership]:
    """Return memberships by id; one who has left since is shown by pseudonym."""
    wanted = {int(i) for i in ids}
    found = {
        str(m.pk): m
        for m in Membership.objects.filter(pk__in=wanted).select_related("user", "community")
    }
    for pk in wanted - {int(k) for k in found}:
        found[str(pk)] = Membership(
            pk=pk, community_id=community_id, role=Role.VOTER, is_anonymous=True
        )
    return found


def _stars(
    pairs: Iterable[tuple[str, Decimal]], choices: dict[str, Choice]
) -> list[ChoiceStarsType]:
    by_choice = dict(pairs)
    return [
        ChoiceStarsType(choice=choice, stars=stars_decimal(by_choice.get(key, 0)))
        for key, choice in choices.items()
    ]


def _cursor(offset: int, kind: str = "ballot") -> str:
    return to_base64(kind, offset)


def _offset(after: str | None) -> int:
    if not after:
        return 0
    try:
        _, raw = relay.from_base64(after)
        return int(raw) + 1
    except (ValueError, TypeError):
        return 0


@strawberry.type(name="DecisionResults")
class DecisionResultsType:
    calculation_id: strawberry.ID
    is_final: bool
    calculated_at: datetime
    winner: Choice | None = strawberry.field(graphql_type=ChoiceType | None)
    tied_choices: list[Choice] = strawberry.field(graphql_type=list[ChoiceType])
    finalists: list[Choice] = strawberry.field(graphql_type=list[ChoiceType])
    scores: list[ChoiceScoreType]
    runoff: RunoffType | None
    tiebreaks: list[str]
    participation: ParticipationType
    tie_break_protocol: str = strawberry.field(
        description="The STAR tiebreak protocol these results follow."
    )
    calculation: strawberry.Private[Calculation]
    choices: strawberry.Private[dict[str, Choice]]
    ranking: strawberry.Private[InfluenceRanking | None]

    @strawberry_django.field
    def ballots(self, first: int | None = None, after: str | None = None) -> BallotConnection:
        """Every member's ballot in this result, direct or delegated, in membership order."""
        limit = max(0, min(first if first is not None else MAX_PAGE, MAX_PAGE))
        offset = _offset(after)
        page, total = results.ballots_page(self.calculation, offset, limit)
        members = _members((b.member for b in page), self.calculation.decision.community_id)
        edges = [
            BallotEdge(cursor=_cursor(offset + i), node=ballot_type(b, members, self.choices))
            for i, b in enumerate(page)
        ]
        return BallotConnection(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=offset + len(page) < total,
                has_previous_page=offset > 0,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=total,
        )

    @strawberry_django.field(
        description="Direct voters, lobbyists included, by influence, highest first: how "
        "many counted ballots each one's own ballot flows into, weighted. Null for a result "
        "calculated before influence was."
    )
    def influence(
        self, first: int | None = None, after: str | None = None
    ) -> InfluenceConnection | None:
        """Direct voters (lobbyists too) by influence, highest first.

        Equal influences keep one stable order (the engine's: by membership key as text).

        Influence: how many counted ballots a member's own ballot flows into, weighted by
        how the delegated ones average it (docs/voting-rules.md, "Influence"). Null for a
        result calculated before influence was.
        """
        if self.ranking is None:
            return None
        limit = max(0, min(first if first is not None else MAX_PAGE, MAX_PAGE))
        offset = _offset(after)
        page = self.ranking.page(offset, limit)
        members = _members((i.member for i in page), self.calculation.decision.community_id)
        edges = [
            InfluenceEdge(
                cursor=_cursor(offset + n, "influence"),
                node=members[i.member],
                influence=i.influence,
            )
            for n, i in enumerate(page)
        ]
        return InfluenceConnection(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=offset + len(page) < len(self.ranking),
                has_previous_page=offset > 0,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=len(self.ranking),
        )


def ballot_type(
    ballot: MemberBallot, members: dict[str, Membership], choices: dict[str, Choice]
) -> BallotType:
    """Return a resolved ballot as the API shows it."""
    return BallotType(
        membership=members[ballot.member],
        is_delegated=ballot.is_delegated,
        tags=list(ballot.tags),
        stars=_stars(ballot.stars, choices),
        comment=None,
    )


def results_type(calculation: Calculation, choices: Sequence[Choice]) -> DecisionResultsType:
    """Return the stored result of a completed calculation, choices in the decision's order."""
    result = results.calculation_result(calculation)
    by_id = {str(c.pk): c for c in choices}
    scores = {s.choice: s for s in result.scores}
    runoff = result.runoff
    assert calculation.finished_at is not None
    return DecisionResultsType(
        calculation_id=strawberry.ID(to_base64("Calculation", calculation.pk)),
        is_final=calculation.is_final,
        calculated_at=calculation.finished_at,
        winner=by_id.get(result.winner or ""),
        tied_choices=[by_id[c] for c in result.tied_choices],
        finalists=[by_id[c] for c in result.finalists],
        scores=[
            ChoiceScoreType(
                choice=choice,
                total_stars=scores[key].total_stars,
                average_stars=scores[key].average_stars,
                five_star_count=scores[key].five_star_count,
            )
            for key, choice in by_id.items()
            if key in scores
        ],
        runoff=None
        if runoff is None
        else RunoffType(
            first=by_id[runoff.first],
            second=by_id[runoff.second],
            prefer_first=runoff.prefer_first,
            prefer_second=runoff.prefer_second,
            no_preference=runoff.no_preference,
        ),
        tiebreaks=list(result.tiebreaks),
        participation=ParticipationType(**asdict(result.participation)),  # the same field names
        tie_break_protocol=result.protocol,
        calculation=calculation,
        choices=by_id,
        ranking=result.influence,
    )


@strawberry.type(name="BallotSource")
class BallotSourceType:
    delegate: Membership = strawberry.field(graphql_type=MembershipType)
    matched_tags: list[str]
    weight: Decimal
    stars: list[ChoiceStarsType]
    order: int
    is_cycle: bool = strawberry.field(
        description="The delegate is already on the path above: shown once, not expanded."
    )
    explanation: BallotExplanationType | None = strawberry.field(
        description="How the delegate's own ballot came about; null when shown elsewhere."
    )


@strawberry.type(name="BallotExplanation")
class BallotExplanationType:
    membership: Membership = strawberry.field(graphql_type=MembershipType)
    is_delegated: bool
    tags: list[str]
    stars: list[ChoiceStarsType]
    sources: list[BallotSourceType]


def _explained_ids(explanation: Explanation) -> set[str]:
    ids = {explanation.member}
    for source in explanation.sources:
        ids.add(source.delegate)
        if source.explanation is not None:
            ids |= _explained_ids(source.explanation)
    return ids


def explanation_type(
    explanation: Explanation, community_id: int, choices: dict[str, Choice]
) -> BallotExplanationType:
    """Return an engine explanation tree with memberships and choices from the database."""
    members = _members(_explained_ids(explanation), community_id)

    def build(node: Explanation) -> BallotExplanationType:
        return BallotExplanationType(
            membership=members[node.member],
            is_delegated=node.is_delegated,
            tags=list(node.tags),
            stars=_stars(node.stars, choices),
            sources=[
                BallotSourceType(
                    delegate=members[s.delegate],
                    matched_tags=list(s.matched_tags),
                    weight=s.weight,
                    stars=_stars(s.stars, choices),
                    order=s.order,
                    is_cycle=s.cycle,
                    explanation=build(s.explanation) if s.explanation else None,
                )
                for s in node.sources
            ],
        )

    return build(explanation)
