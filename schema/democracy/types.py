"""GraphQL types of communities, memberships, followings, decisions and ballots."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from django.db.models import Q, QuerySet
from strawberry import relay
from strawberry_django.relay import DjangoListConnection

from calc.models import Calculation
from core.errors import Forbidden
from democracy import models, selectors
from democracy.pseudonyms import display_name
from schema.context import Info, current_user
from schema.errors import graphql_error

if TYPE_CHECKING:
    from schema.calc.types import BallotExplanationType, CalculationType, DecisionResultsType

RoleEnum = strawberry.enum(models.Role, name="Role")
DecisionStatusEnum = strawberry.enum(models.DecisionStatus, name="DecisionStatus")
TieBreakPolicyEnum = strawberry.enum(models.TieBreakPolicy, name="TieBreakPolicy")

EIGHT_PLACES = Decimal("0.00000001")
MEMBERS_HIDDEN = "Join this community to see its members and decisions."


def _require_inside(info: Info, community: models.Community) -> None:
    if not selectors.can_see_community_inside(current_user(info), community):
        raise graphql_error(Forbidden(MEMBERS_HIDDEN))


@strawberry_django.type(models.Community, name="Community")
class CommunityType(relay.Node):
    name: str
    description: str
    auto_approve_applications: bool
    tie_break_policy: TieBreakPolicyEnum  # type: ignore[valid-type]
    results_are_public: bool

    @strawberry_django.connection(DjangoListConnection["MembershipType"])
    def members(self, info: Info) -> Iterable[models.Membership]:
        community: models.Community = self  # type: ignore[assignment]
        _require_inside(info, community)
        return community.memberships.filter(is_approved=True).select_related("user")

    @strawberry_django.connection(DjangoListConnection["DecisionType"])
    def decisions(
        self,
        info: Info,
        status: DecisionStatusEnum | None = None,  # type: ignore[valid-type]
    ) -> Iterable[models.Decision]:
        community: models.Community = self  # type: ignore[assignment]
        _require_inside(info, community)
        queryset = community.decisions.all()
        return queryset.filter(status=status) if status else queryset

    @strawberry_django.field(only=["id"])
    def my_membership(self, info: Info) -> MembershipType | None:
        user = current_user(info)
        if not user.is_authenticated:
            return None
        return self.memberships.filter(user_id=user.pk).first()  # type: ignore[attr-defined]


@strawberry_django.type(models.Membership, name="Membership")
class MembershipType(relay.Node):
    role: RoleEnum  # type: ignore[valid-type]
    is_manager: bool
    is_anonymous: bool
    is_approved: bool
    community: CommunityType
    following: list[FollowingType]
    followers: list[FollowingType]

    @strawberry_django.field(only=["is_anonymous", "user__username"], select_related=["user"])
    def display_name(self) -> str:
        return display_name(self)  # type: ignore[arg-type]

    @classmethod
    def get_queryset(
        cls, queryset: QuerySet[models.Membership], info: Info, **kwargs: object
    ) -> QuerySet[models.Membership]:
        user = current_user(info)
        own = Q(user_id=user.pk) if user.is_authenticated else Q(pk__in=[])
        return queryset.filter(selectors.inside_visible_to(user) | own)


@strawberry_django.type(models.Following, name="Following")
class FollowingType:
    follower: MembershipType
    followee: MembershipType
    tags: list[str]
    order: int


@strawberry_django.type(models.Choice, name="Choice")
class ChoiceType(relay.Node):
    title: str
    description: str

    @classmethod
    def get_queryset(
        cls, queryset: QuerySet[models.Choice], info: Info, **kwargs: object
    ) -> QuerySet[models.Choice]:
        return queryset.filter(decision__in=selectors.decision_list_visible(current_user(info)))


@strawberry.type(name="ChoiceStars")
class ChoiceStarsType:
    choice: ChoiceType
    stars: Decimal


@strawberry.type(name="Ballot")
class BallotType:
    membership: MembershipType
    is_delegated: bool
    tags: list[str]
    stars: list[ChoiceStarsType]
    comment: str | None


def stars_decimal(stars: int | Decimal) -> Decimal:
    """Return stars with the 8 decimal places every ballot shows (SEMANTICS.md)."""
    return Decimal(stars).quantize(EIGHT_PLACES)


def direct_ballot(ballot: models.Ballot, choices: Iterable[models.Choice]) -> BallotType:
    """Return a direct ballot as the API shows it: every choice, unrated ones at 0 stars."""
    rated = {row.choice_id: row.stars for row in ballot.stars.all()}
    return BallotType(
        membership=ballot.membership,  # type: ignore[arg-type]
        is_delegated=False,
        tags=list(ballot.tags),
        stars=[
            ChoiceStarsType(choice=choice, stars=stars_decimal(rated.get(choice.pk, 0)))  # type: ignore[arg-type]
            for choice in choices
        ],
        comment=ballot.comment,
    )


@strawberry_django.type(models.Decision, name="Decision")
class DecisionType(relay.Node):
    title: str
    description: str
    status: DecisionStatusEnum  # type: ignore[valid-type]
    closes_at: datetime
    community: CommunityType
    choices: list[ChoiceType]

    @strawberry_django.field(only=["id", "community_id"])
    def my_ballot(self, info: Info) -> BallotType | None:
        """The caller's direct ballot, else their delegated one in the current result."""
        from schema.calc.resolvers import my_ballot

        return my_ballot(current_user(info), self)  # type: ignore[arg-type]

    @strawberry_django.field(only=["id"])
    def results(
        self,
    ) -> Annotated[DecisionResultsType, strawberry.lazy("schema.calc.types")] | None:
        """The latest completed calculation's result (the final one once closed)."""
        from schema.calc.resolvers import decision_results

        return decision_results(self)  # type: ignore[arg-type]

    @strawberry_django.field(only=["id"])
    def calculation(
        self,
    ) -> Annotated[CalculationType, strawberry.lazy("schema.calc.types")] | None:
        """The latest calculation, whatever its status."""
        from calc.results import calculation_latest

        return calculation_latest(self)  # type: ignore[arg-type,return-value]

    @strawberry_django.connection(
        DjangoListConnection[Annotated["CalculationType", strawberry.lazy("schema.calc.types")]]
    )
    def snapshots(self) -> Iterable[Calculation]:
        """Every calculation of this decision, newest first, each with its frozen input."""
        return Calculation.objects.filter(decision_id=self.pk)  # type: ignore[attr-defined]

    @strawberry_django.field(only=["id", "community_id"])
    def explanation(
        self, membership_id: strawberry.ID, max_depth: int | None = 10
    ) -> Annotated[BallotExplanationType, strawberry.lazy("schema.calc.types")] | None:
        """How a member's ballot came about in the current result; null without a ballot.

        ``maxDepth`` bounds how many levels of delegates are expanded (null: all).
        """
        from schema.calc.resolvers import decision_explanation

        return decision_explanation(self, membership_id, max_depth)  # type: ignore[arg-type]

    @classmethod
    def get_queryset(
        cls, queryset: QuerySet[models.Decision], info: Info, **kwargs: object
    ) -> QuerySet[models.Decision]:
        return queryset.filter(selectors.inside_visible_to(current_user(info)))
