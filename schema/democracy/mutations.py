"""Mutations people make in communities: each loads, calls one service, wraps the result."""

from __future__ import annotations

import strawberry
import strawberry_django

from calc.results import calculations_queued as queued
from democracy import models
from democracy.models import Role, TieBreakPolicy
from democracy.services import ballots, communities, decisions, followings, memberships
from democracy.services.ballots import StarsSpec
from democracy.services.decisions import ChoiceSpec
from schema.context import Info, decode_pk, load, signed_in_user
from schema.democracy.inputs import (
    CastBallotInput,
    ChoiceInput,
    CreateCommunityInput,
    CreateDecisionInput,
    FollowInput,
    UpdateCommunityInput,
    UpdateDecisionInput,
    UpdateMembershipInput,
)
from schema.democracy.types import RoleEnum, direct_ballot
from schema.errors import mutation_payload
from schema.payloads import (
    BallotPayload,
    CommunityPayload,
    DecisionPayload,
    FollowingPayload,
    MembershipPayload,
    OkPayload,
)
from schema.permissions import IsSignedIn

MEMBERSHIPS = models.Membership.objects.select_related("user", "community")
DECISIONS = models.Decision.objects.select_related("community")


def _community(raw_id: str, field: str = "communityId") -> models.Community:
    return load(models.Community.objects.all(), raw_id, type_name="Community", field=field)


def _decision(raw_id: str, field: str = "decisionId") -> models.Decision:
    return load(DECISIONS, raw_id, type_name="Decision", field=field)


def _choice_specs(choices: list[ChoiceInput] | None) -> list[ChoiceSpec] | None:
    if choices is None:
        return None
    return [ChoiceSpec(title=c.title, description=c.description or "") for c in choices]


def _recalculating(decision: models.Decision) -> DecisionPayload:
    """Return a decision whose status change queued its recalculation."""
    return DecisionPayload(
        decision=decision,
        calculations=queued(decision_ids=[decision.pk]),
    )


@strawberry.type
class DemocracyMutation:
    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(CommunityPayload)
    def create_community(self, info: Info, input: CreateCommunityInput) -> CommunityPayload:
        community = communities.community_create(
            user=signed_in_user(info),
            name=input.name,
            description=input.description or "",
            auto_approve_applications=input.auto_approve_applications is not False,
            tie_break_policy=input.tie_break_policy or TieBreakPolicy.LOT,
            results_are_public=bool(input.results_are_public),
        )
        return CommunityPayload(community=community)

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(CommunityPayload)
    def update_community(self, info: Info, input: UpdateCommunityInput) -> CommunityPayload:
        community = communities.community_update(
            user=signed_in_user(info),
            community=_community(input.community_id),
            name=input.name,
            description=input.description,
            auto_approve_applications=input.auto_approve_applications,
            tie_break_policy=input.tie_break_policy,
            results_are_public=input.results_are_public,
        )
        return CommunityPayload(community=community)

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(MembershipPayload)
    def join_community(
        self,
        info: Info,
        community_id: strawberry.ID,
        role: RoleEnum | None = Role.VOTER,
        is_anonymous: bool | None = False,
    ) -> MembershipPayload:
        membership = memberships.membership_join(
            user=signed_in_user(info),
            community=_community(community_id),
            role=role or Role.VOTER,
            is_anonymous=bool(is_anonymous),
        )
        return MembershipPayload(
            membership=membership,
            calculations=queued(community_id=membership.community_id),
        )

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(OkPayload)
    def leave_community(self, info: Info, community_id: strawberry.ID) -> OkPayload:
        community = _community(community_id)
        memberships.membership_leave(user=signed_in_user(info), community=community)
        return OkPayload(ok=True, calculations=queued(community_id=community.pk))

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(MembershipPayload)
    def update_membership(self, info: Info, input: UpdateMembershipInput) -> MembershipPayload:
        user = signed_in_user(info)
        target = load(
            MEMBERSHIPS, input.membership_id, type_name="Membership", field="membershipId"
        )
        membership = memberships.membership_update(
            user=user,
            membership=target,
            role=input.role,
            is_manager=input.is_manager,
            is_anonymous=input.is_anonymous,
            is_approved=input.is_approved,
        )
        return MembershipPayload(
            membership=membership,
            calculations=queued(community_id=membership.community_id),
        )

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(FollowingPayload)
    def follow(self, info: Info, input: FollowInput) -> FollowingPayload:
        user = signed_in_user(info)
        following = followings.following_upsert(
            user=user,
            community=_community(input.community_id),
            followee=load(
                MEMBERSHIPS, input.followee_id, type_name="Membership", field="followeeId"
            ),
            tags=input.tags or [],
            order=input.order,
        )
        return FollowingPayload(
            following=following,
            calculations=queued(community_id=following.community_id),
        )

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(OkPayload)
    def unfollow(
        self, info: Info, community_id: strawberry.ID, followee_id: strawberry.ID
    ) -> OkPayload:
        user = signed_in_user(info)
        community = _community(community_id)
        followings.following_delete(
            user=user,
            community=community,
            followee=load(MEMBERSHIPS, followee_id, type_name="Membership", field="followeeId"),
        )
        return OkPayload(ok=True, calculations=queued(community_id=community.pk))

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(DecisionPayload)
    def create_decision(self, info: Info, input: CreateDecisionInput) -> DecisionPayload:
        decision = decisions.decision_create(
            user=signed_in_user(info),
            community=_community(input.community_id),
            title=input.title,
            description=input.description or "",
            closes_at=input.closes_at,
            choices=_choice_specs(input.choices) or [],
        )
        return DecisionPayload(decision=decision)

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(DecisionPayload)
    def update_decision(self, info: Info, input: UpdateDecisionInput) -> DecisionPayload:
        decision = decisions.decision_update(
            user=signed_in_user(info),
            decision=_decision(input.decision_id),
            title=input.title,
            description=input.description,
            closes_at=input.closes_at,
            choices=_choice_specs(input.choices),
        )
        return DecisionPayload(decision=decision)

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(DecisionPayload)
    def publish_decision(self, info: Info, decision_id: strawberry.ID) -> DecisionPayload:
        user = signed_in_user(info)
        decision = decisions.decision_publish(user=user, decision=_decision(decision_id))
        return _recalculating(decision)

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(DecisionPayload)
    def close_decision(self, info: Info, decision_id: strawberry.ID) -> DecisionPayload:
        user = signed_in_user(info)
        decision = decisions.decision_close(user=user, decision=_decision(decision_id))
        return _recalculating(decision)

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(BallotPayload)
    def cast_ballot(self, info: Info, input: CastBallotInput) -> BallotPayload:
        user = signed_in_user(info)
        decision = _decision(input.decision_id)
        stars = [
            StarsSpec(
                choice_id=decode_pk(s.choice_id, type_name="Choice", field="stars"), stars=s.stars
            )
            for s in input.stars
        ]
        ballot = ballots.ballot_cast(
            user=user,
            decision=decision,
            stars=stars,
            tags=input.tags or [],
            comment=input.comment or "",
        )
        return BallotPayload(
            ballot=direct_ballot(ballot, decision.choices.all()),
            calculations=queued(decision_ids=[decision.pk]),
        )

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(OkPayload)
    def retract_ballot(self, info: Info, decision_id: strawberry.ID) -> OkPayload:
        decision = _decision(decision_id)
        ballots.ballot_retract(user=signed_in_user(info), decision=decision)
        return OkPayload(ok=True, calculations=queued(decision_ids=[decision.pk]))
