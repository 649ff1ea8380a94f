"""GraphQL types of communities, memberships, followings, choices and ballots.

``Decision`` lives in ``schema.democracy.decision``: its result fields need ``schema.calc``,
which builds on the types here.

The ``strawberry_django`` types below resolve on model instances: a resolver reads its
model through the ``root`` parameter, and a field that returns a model names its GraphQL
type with ``graphql_type``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, TypeAlias

import strawberry
import strawberry_django
from django.db.models import Prefetch, Q, QuerySet
from strawberry import relay
from strawberry_django.relay import DjangoListConnection

from democracy import models, selectors
from democracy.pseudonyms import display_name
from schema.context import Info, current_user
from schema.relations import relation_connection

if TYPE_CHECKING:
    from schema.democracy.decision import DecisionType

RoleEnum: TypeAlias = Annotated[models.Role, strawberry.enum(name="Role")]
DecisionStatusEnum: TypeAlias = Annotated[
    models.DecisionStatus, strawberry.enum(name="DecisionStatus")
]
TieBreakPolicyEnum: TypeAlias = Annotated[
    models.TieBreakPolicy, strawberry.enum(name="TieBreakPolicy")
]

EIGHT_PLACES = Decimal("0.00000001")
VIEWER_MEMBERSHIPS = "viewer_memberships"


def _viewer_memberships(info: Info) -> Prefetch[str]:
    """Prefetch the viewer's membership of each community of a page, in one query."""
    user = current_user(info)
    mine = models.Membership.objects.none()
    if user.is_authenticated:
        mine = models.Membership.objects.filter(user_id=user.pk)
    return Prefetch("memberships", mine, to_attr=VIEWER_MEMBERSHIPS)


@strawberry_django.type(models.Membership, name="Membership")
class MembershipType(relay.Node):
    role: RoleEnum
    is_manager: bool
    is_anonymous: bool
    is_approved: bool
    community: CommunityType
    following: list[FollowingType]
    followers: list[FollowingType]

    @strawberry_django.field(only=["is_anonymous", "user__username"], select_related=["user"])
    def display_name(self, root: models.Membership) -> str:
        return display_name(root)

    @classmethod
    def get_queryset(
        cls, queryset: QuerySet[models.Membership], info: Info, **kwargs: object
    ) -> QuerySet[models.Membership]:
        return queryset.filter(selectors.membership_visible_to(current_user(info)))


@strawberry_django.type(models.Community, name="Community")
class CommunityType(relay.Node):
    name: str
    description: str
    auto_approve_applications: bool
    tie_break_policy: TieBreakPolicyEnum
    results_are_public: bool

    @relation_connection(
        DjangoListConnection[MembershipType],
        relation="memberships",
        where=lambda **_: Q(is_approved=True),
    )
    def members(self, root: models.Community) -> Iterable[models.Membership]:
        """Approved members; empty unless you may see inside (a member, or public results)."""
        return root.memberships.all()

    @relation_connection(
        DjangoListConnection[
            Annotated["DecisionType", strawberry.lazy("schema.democracy.decision")]
        ],
        relation="decisions",
        where=lambda status=None, **_: Q(status=status) if status else Q(),
    )
    def decisions(
        self, root: models.Community, status: DecisionStatusEnum | None = None
    ) -> Iterable[models.Decision]:
        """Newest first; empty unless you may see inside (a member, or public results)."""
        return root.decisions.all()

    @strawberry_django.field(
        only=["id"],
        prefetch_related=[_viewer_memberships],
        graphql_type=Annotated["MembershipType", strawberry.lazy("schema.democracy.types")] | None,
    )
    def my_membership(self, root: models.Community, info: Info) -> models.Membership | None:
        user = current_user(info)
        if not user.is_authenticated:
            return None
        prefetched: list[models.Membership] | None = getattr(root, VIEWER_MEMBERSHIPS, None)
        if prefetched is not None:
            return prefetched[0] if prefetched else None
        return root.memberships.filter(user_id=user.pk).first()


@strawberry_django.type(models.Following, name="Following")
class FollowingType(relay.Node):
    follower: MembershipType
    followee: MembershipType
    tags: list[str]
    order: int

    @classmethod
    def get_queryset(
        cls, queryset: QuerySet[models.Following], info: Info, **kwargs: object
    ) -> QuerySet[models.Following]:
        return queryset.filter(selectors.following_visible_to(current_user(info)))


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
    choice: models.Choice = strawberry.field(graphql_type=ChoiceType)
    stars: Decimal


@strawberry.type(name="Ballot")
class BallotType:
    membership: models.Membership = strawberry.field(graphql_type=MembershipType)
    is_delegated: bool
    tags: list[str]
    stars: list[ChoiceStarsType]
    comment: str | None


def stars_decimal(stars: int | Decimal) -> Decimal:
    """Return stars with the 8 decimal places every ballot shows."""
    return Decimal(stars).quantize(EIGHT_PLACES)


def direct_ballot(
    ballot: models.Ballot,
    choices: Iterable[models.Choice],
    rated: Mapping[int, int] | None = None,
) -> BallotType:
    """Return a direct ballot as the API shows it: every choice, unrated ones at 0 stars.

    ``rated`` (stars by choice id) spares reading back the stars a mutation just wrote.
    """
    if rated is None:
        rated = {row.choice_id: row.stars for row in ballot.stars.all()}
    return BallotType(
        membership=ballot.membership,
        is_delegated=False,
        tags=list(ballot.tags),
        stars=[
            ChoiceStarsType(choice=choice, stars=stars_decimal(rated.get(choice.pk, 0)))
            for choice in choices
        ],
        comment=ballot.comment,
    )
