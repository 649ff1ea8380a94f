"""Mutations people make in communities: each loads, calls one service, wraps the result."""

from __future__ import annotations

import strawberry
import strawberry_django

from accounts.models import User
from calc.queue import commits_with_log
from calc.results import calculations_queued as queued
from calc.triggers import calculations_requested, recalculation_requested
from democracy import models, selectors
from democracy.models import DecisionStatus, Role, TieBreakPolicy
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
from schema.errors import mutation_payload, not_found
from schema.payloads import (
    BallotPayload,
    CommunityPayload,
    DecisionPayload,
    FollowingPayload,
    MembershipPayload,
    OkPayload,
    asks_for,
    confirmation,
)
from schema.permissions import IsSignedIn

MEMBERSHIPS = models.Membership.objects.select_related("user", "community")
WELCOME = "Welcome to {name}!"
APPLIED = "Application to {name} sent: a manager will review it."
LEFT = "You have left {name}."
MEMBERSHIP_UPDATED = "Membership updated!"
FOLLOWING_UPDATED = "Following updated!"
UNFOLLOWED = "Unfollowed."
PUBLISHED = "Decision published!"
CLOSED = "Decision closed!"
VOTE_RECORDED = "Vote recorded!"
VOTE_RETRACTED = "Vote retracted."


def _community(raw_id: str, field: str = "communityId") -> models.Community:
    return load(models.Community.objects.all(), raw_id, type_name="Community", field=field)


def _decision(user: User, raw_id: str, field: str = "decisionId") -> models.Decision:
    """Return a decision the caller may see: any other is unknown to them (``INVALID_ID``),
    so that a refusal cannot tell a stranger that a private decision or a draft exists."""
    visible = selectors.decision_list_visible(user).select_related("community")
    return load(visible, raw_id, type_name="Decision", field=field)


def _membership(user: User, raw_id: str, field: str) -> models.Membership:
    """Return a membership the caller may see, as ``_decision`` does."""
    visible = MEMBERSHIPS.filter(selectors.membership_visible_to(user))
    return load(visible, raw_id, type_name="Membership", field=field)


def _ballot_target(user: User, raw_id: str) -> selectors.BallotTarget:
    """Return the decision a ballot is cast on as the cast needs it, as ``_decision`` would."""
    found = selectors.ballot_target(
        decode_pk(raw_id, type_name="Decision", field="decisionId"), user
    )
    if found is None or not _target_visible(found):
        raise not_found("decisionId", "decision")
    return found


def _target_visible(target: selectors.BallotTarget) -> bool:
    # selectors.decision_visible_to, from the rows the cast read already (a storm's hot path).
    membership = target.membership
    approved = membership is not None and membership.is_approved
    if target.decision.status == DecisionStatus.DRAFT:
        return approved and membership is not None and membership.is_manager
    return approved or target.decision.community.results_are_public


def _choice_specs(choices: list[ChoiceInput] | None) -> list[ChoiceSpec] | None:
    if choices is None:
        return None
    return [ChoiceSpec(title=c.title, description=c.description or "") for c in choices]


def _recalculating(decision: models.Decision, headline: str) -> DecisionPayload:
    """Return a decision whose status change queued its recalculation."""
    calculations = queued(decision_ids=[decision.pk])
    return DecisionPayload(
        decision=decision,
        calculations=calculations,
        message=confirmation(headline, calculations),
    )


def _welcome(membership: models.Membership) -> str:
    name = membership.community.name
    return WELCOME.format(name=name) if membership.is_approved else APPLIED.format(name=name)


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
        calculations = queued(community_id=membership.community_id)
        return MembershipPayload(
            membership=membership,
            calculations=calculations,
            message=confirmation(_welcome(membership), calculations),
        )

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(OkPayload)
    def leave_community(self, info: Info, community_id: strawberry.ID) -> OkPayload:
        community = _community(community_id)
        memberships.membership_leave(user=signed_in_user(info), community=community)
        calculations = queued(community_id=community.pk)
        message = confirmation(LEFT.format(name=community.name), calculations)
        return OkPayload(ok=True, calculations=calculations, message=message)

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(MembershipPayload)
    def update_membership(self, info: Info, input: UpdateMembershipInput) -> MembershipPayload:
        user = signed_in_user(info)
        target = _membership(user, input.membership_id, field="membershipId")
        membership = memberships.membership_update(
            user=user,
            membership=target,
            role=input.role,
            is_manager=input.is_manager,
            is_anonymous=input.is_anonymous,
            is_approved=input.is_approved,
        )
        calculations = queued(community_id=membership.community_id)
        return MembershipPayload(
            membership=membership,
            calculations=calculations,
            message=confirmation(MEMBERSHIP_UPDATED, calculations),
        )

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(FollowingPayload)
    def follow(self, info: Info, input: FollowInput) -> FollowingPayload:
        user = signed_in_user(info)
        following = followings.following_upsert(
            user=user,
            community=_community(input.community_id),
            followee=_membership(user, input.followee_id, field="followeeId"),
            tags=input.tags or [],
            order=input.order,
        )
        calculations = queued(community_id=following.community_id)
        return FollowingPayload(
            following=following,
            calculations=calculations,
            message=confirmation(FOLLOWING_UPDATED, calculations),
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
            followee=_membership(user, followee_id, field="followeeId"),
        )
        calculations = queued(community_id=community.pk)
        message = confirmation(UNFOLLOWED, calculations)
        return OkPayload(ok=True, calculations=calculations, message=message)

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
        user = signed_in_user(info)
        decision = decisions.decision_update(
            user=user,
            decision=_decision(user, input.decision_id),
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
        decision = decisions.decision_publish(user=user, decision=_decision(user, decision_id))
        return _recalculating(decision, PUBLISHED)

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(DecisionPayload)
    def close_decision(self, info: Info, decision_id: strawberry.ID) -> DecisionPayload:
        user = signed_in_user(info)
        decision = decisions.decision_close(user=user, decision=_decision(user, decision_id))
        return _recalculating(decision, CLOSED)

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    # On PostgreSQL the cast owns its transaction, to commit it in its last message.
    @mutation_payload(BallotPayload, atomic=not commits_with_log())
    def cast_ballot(self, info: Info, input: CastBallotInput) -> BallotPayload:
        user = signed_in_user(info)
        # With its choices (the service checks the stars, the payload lists them) and the
        # voter's membership.
        target = _ballot_target(user, input.decision_id)
        stars = [
            StarsSpec(
                choice_id=decode_pk(s.choice_id, type_name="Choice", field="stars"), stars=s.stars
            )
            for s in input.stars
        ]
        # A storm's clients mostly read only the errors: then no calculation is read.
        wanted = asks_for(info, "calculations")
        cast = ballots.ballot_cast_reacted(
            target=target,
            stars=stars,
            tags=input.tags or [],
            comment=input.comment or "",
            answers_wanted=wanted,
        )
        # The queued calculation as the request left it, not read again under the lock.
        calculations = calculations_requested(cast.reactions)
        return BallotPayload(
            ballot=direct_ballot(
                cast.ballot, target.choices, {s.choice_id: s.stars for s in stars}
            ),
            calculations=calculations,
            message=confirmation(VOTE_RECORDED, recalculation_requested(cast.reactions)),
        )

    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(OkPayload)
    def retract_ballot(self, info: Info, decision_id: strawberry.ID) -> OkPayload:
        user = signed_in_user(info)
        decision = _decision(user, decision_id)
        ballots.ballot_retract(user=user, decision=decision)
        calculations = queued(decision_ids=[decision.pk])
        message = confirmation(VOTE_RETRACTED, calculations)
        return OkPayload(ok=True, calculations=calculations, message=message)
