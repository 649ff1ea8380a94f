"""GraphQL types of calculations, results and explanations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from django.db.models import QuerySet
from strawberry import relay
from strawberry.relay import to_base64

from calc import publish, results
from calc.engine import Explanation, InfluenceRanking, MemberBallot, StarResult
from calc.models import Calculation, CalculationStatus
from democracy import selectors
from democracy.models import Choice, Membership
from schema.calc import batches
from schema.context import Info, current_user
from schema.democracy.types import (
    BallotType,
    ChoiceStarsType,
    ChoiceType,
    MembershipType,
    stars_decimal,
)
from schema.pages import page_window
from schema.snapshots import snapshot_url

if TYPE_CHECKING:
    from schema.democracy.decision import DecisionType


@strawberry.enum(name="CalculationStatus")
class CalculationStatusEnum(StrEnum):
    """The model's statuses but ABSORBED, which the API shows as COMPLETED with absorbedBy.

    A client following its calculation waits for COMPLETED or FAILED: an absorbed one is
    done too, its changes counted by the calculation it names.
    """

    QUEUED = CalculationStatus.QUEUED.value
    CREATING = CalculationStatus.CREATING.value
    READY = CalculationStatus.READY.value
    STAGING = CalculationStatus.STAGING.value
    TALLYING = CalculationStatus.TALLYING.value
    COMPLETED = CalculationStatus.COMPLETED.value
    FAILED = CalculationStatus.FAILED.value


def api_status(root: Calculation) -> CalculationStatusEnum:
    if root.status == CalculationStatus.ABSORBED:
        return CalculationStatusEnum.COMPLETED
    return CalculationStatusEnum(root.status)


BALLOT_CURSOR = "ballot"
INFLUENCE_CURSOR = "influence"


@strawberry_django.type(Calculation, name="Calculation")
class CalculationType(relay.Node):
    decision: Annotated[DecisionType, strawberry.lazy("schema.democracy.decision")]
    status: CalculationStatusEnum = strawberry_django.field(resolver=api_status, only=["status"])
    is_final: bool
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    trigger: str
    change_count: int = strawberry_django.field(
        description="How many changes this calculation covers: its trigger and any that "
        "arrived before its snapshot. Counted when the snapshot is taken (from READY on); "
        "while QUEUED, the mutation that returned it counts those gathered so far."
    )
    retry_count: int
    generation: int = strawberry_django.field(
        description="Which of the decision's generations this calculation read: before each "
        "snapshot, the changes waiting are stamped with the next one."
    )

    @strawberry_django.field(
        only=["absorbed_by_id"],
        graphql_type=Annotated["CalculationType", strawberry.lazy("schema.calc.types")] | None,
        description="The calculation that counted this one's changes: set when they arrived "
        "while that one was running, in time for its snapshot. This one is then COMPLETED "
        "without running.",
    )
    def absorbed_by(self, root: Calculation, info: Info) -> Calculation | None:
        if root.absorbed_by_id is None:
            return None
        return (
            CalculationType.get_queryset(Calculation.objects.all(), info)
            .filter(pk=root.absorbed_by_id)
            .first()
        )

    @strawberry_django.field(only=["error"])
    def error(self, root: Calculation) -> str | None:
        return root.error or None

    @strawberry_django.field(only=["failed_stage"])
    def failed_stage(self, root: Calculation) -> CalculationStatusEnum | None:
        return CalculationStatusEnum(root.failed_stage) if root.failed_stage else None

    @strawberry_django.field(only=["content_hash"])
    def content_hash(self, root: Calculation) -> str | None:
        """SHA-256 of the frozen input; it seeds the tie lot."""
        return root.content_hash or None

    @strawberry_django.field(
        only=["status"],
        description="Where to download this calculation's frozen input and result as JSON "
        "(a path on this server), to recount them with `python -m crowdvote_verify FILE`; "
        "null until it is completed.",
    )
    def snapshot_url(self, root: Calculation) -> str | None:
        return snapshot_url(root)

    @strawberry_django.field(
        only=["status", "content_hash"],
        description="SHA-256 of the downloadable snapshot's input (its `publishedHash`), "
        "which the verifier recomputes; null until the calculation is completed.",
    )
    def snapshot_hash(self, root: Calculation) -> str | None:
        return publish.published_hash(root)

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
    return batches.members_by_id((i, community_id) for i in ids)


def _stars(
    pairs: Iterable[tuple[str, Decimal]], choices: dict[str, Choice]
) -> list[ChoiceStarsType]:
    by_choice = dict(pairs)
    return [
        ChoiceStarsType(choice=choice, stars=stars_decimal(by_choice.get(key, 0)))
        for key, choice in choices.items()
    ]


def _cursor(offset: int, kind: str = BALLOT_CURSOR) -> str:
    return to_base64(kind, offset)


@strawberry.type(name="DecisionResults")
class DecisionResultsType(relay.Node):
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

    @classmethod
    def resolve_id(cls, root: DecisionResultsType, *, info: Info) -> str:
        """The calculation's primary key: a result is the result of one calculation."""
        return str(root.calculation.pk)

    @classmethod
    # strawberry's signature is generic over every Node; this one returns its own type.
    def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[DecisionResultsType | None]:
        return results_nodes(info, list(node_ids))

    @strawberry_django.field
    def ballots(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> BallotConnection:
        """Every member's ballot in this result, direct or delegated, in membership order."""
        page = batches.ballots_page(
            self.calculation,
            key=(before, after, first, last),
            window=lambda count: page_window(
                info,
                count=count,
                prefix=BALLOT_CURSOR,
                before=before,
                after=after,
                first=first,
                last=last,
            ),
        )
        edges = [
            BallotEdge(
                cursor=_cursor(page.start + i), node=ballot_type(b, page.members, self.choices)
            )
            for i, b in enumerate(page.ballots)
        ]
        return BallotConnection(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=page.start + len(page.ballots) < page.total,
                has_previous_page=page.start > 0,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total,
        )

    @strawberry_django.field(
        description="Direct voters, lobbyists included, by influence, highest first: how "
        "many counted ballots each one's own ballot flows into, weighted. Null for a result "
        "calculated before influence was."
    )
    def influence(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> InfluenceConnection | None:
        """Direct voters (lobbyists too) by influence, highest first.

        Equal influences keep one stable order (the engine's: by membership key as text).

        Influence: how many counted ballots a member's own ballot flows into, weighted by
        how the delegated ones average it (docs/voting-rules.md, "Influence"). Null for a
        result calculated before influence was.
        """
        ranking = self.ranking or results.calculation_influence(self.calculation)
        if ranking is None:
            return None
        offset, end = page_window(
            info,
            count=lambda: len(ranking),
            prefix=INFLUENCE_CURSOR,
            before=None,
            after=after,
            first=first,
            last=None,
        )
        page = ranking.page(offset, end - offset)
        members = _members((i.member for i in page), self.calculation.decision.community_id)
        edges = [
            InfluenceEdge(
                cursor=_cursor(offset + n, INFLUENCE_CURSOR),
                node=members[i.member],
                influence=i.influence,
            )
            for n, i in enumerate(page)
        ]
        return InfluenceConnection(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=offset + len(page) < len(ranking),
                has_previous_page=offset > 0,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=len(ranking),
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


def score_types(result: StarResult, by_id: dict[str, Choice]) -> list[ChoiceScoreType]:
    """Return each scored choice's stars, in the order of ``by_id`` (the decision's)."""
    scores = {s.choice: s for s in result.scores}
    return [
        ChoiceScoreType(
            choice=choice,
            total_stars=scores[key].total_stars,
            average_stars=scores[key].average_stars,
            five_star_count=scores[key].five_star_count,
        )
        for key, choice in by_id.items()
        if key in scores
    ]


def results_type(calculation: Calculation, choices: Sequence[Choice]) -> DecisionResultsType:
    """Return the stored result of a completed calculation, choices in the decision's order."""
    result = results.calculation_result(calculation)
    by_id = {str(c.pk): c for c in choices}
    runoff = result.runoff
    assert calculation.finished_at is not None
    return DecisionResultsType(
        calculation_id=strawberry.ID(to_base64("Calculation", calculation.pk)),
        is_final=calculation.is_final,
        calculated_at=calculation.finished_at,
        winner=by_id.get(result.winner or ""),
        tied_choices=[by_id[c] for c in result.tied_choices],
        finalists=[by_id[c] for c in result.finalists],
        scores=score_types(result, by_id),
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


def results_nodes(info: Info, node_ids: list[str]) -> list[DecisionResultsType | None]:
    """Return the results of completed calculations by id, None where not visible."""
    pks = [int(i) for i in node_ids if i.isdigit()]
    visible = selectors.decision_list_visible(current_user(info))
    found = {
        c.pk: c
        for c in Calculation.objects.filter(
            pk__in=pks, status=CalculationStatus.COMPLETED, decision__in=visible
        )
        .select_related("decision")
        .prefetch_related("decision__choices")
    }
    return [
        results_type(found[int(i)], list(found[int(i)].decision.choices.all()))
        if i.isdigit() and int(i) in found
        else None
        for i in node_ids
    ]


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
