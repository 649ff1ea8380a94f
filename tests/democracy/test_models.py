"""Integrity the database holds on its own, whatever the services do."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from democracy.models import BallotStar, Choice, Community, Following, Membership, Role
from tests.factories import (
    BallotFactory,
    CommunityFactory,
    DecisionFactory,
    FollowingFactory,
    MembershipFactory,
)

pytestmark = pytest.mark.django_db


def test_a_user_has_one_membership_per_community():
    membership = MembershipFactory()
    with transaction.atomic(), pytest.raises(IntegrityError):
        Membership.objects.create(user=membership.user, community=membership.community)


def test_one_user_may_join_several_communities():
    membership = MembershipFactory()
    Membership.objects.create(user=membership.user, community=CommunityFactory())
    assert Membership.objects.filter(user=membership.user).count() == 2


def test_a_lobbyist_cannot_be_anonymous():
    community = CommunityFactory()
    member = MembershipFactory(community=community, role=Role.LOBBYIST)
    with transaction.atomic(), pytest.raises(IntegrityError):
        Membership.objects.filter(pk=member.pk).update(is_anonymous=True)


def test_an_anonymous_voter_is_allowed():
    member = MembershipFactory(is_anonymous=True)
    assert Membership.objects.get(pk=member.pk).is_anonymous


def test_a_role_must_be_known():
    member = MembershipFactory()
    with transaction.atomic(), pytest.raises(IntegrityError):
        Membership.objects.filter(pk=member.pk).update(role="KING")


def test_nobody_follows_themself():
    member = MembershipFactory()
    with transaction.atomic(), pytest.raises(IntegrityError):
        Following.objects.create(community=member.community, follower=member, followee=member)


def test_a_pair_follows_once():
    following = FollowingFactory()
    with transaction.atomic(), pytest.raises(IntegrityError):
        Following.objects.create(
            community=following.community,
            follower=following.follower,
            followee=following.followee,
            tags=["other"],
        )


def test_following_back_is_a_different_pair():
    following = FollowingFactory()
    Following.objects.create(
        community=following.community, follower=following.followee, followee=following.follower
    )
    assert Following.objects.count() == 2


def test_a_following_order_starts_at_one():
    following = FollowingFactory()
    with transaction.atomic(), pytest.raises(IntegrityError):
        Following.objects.filter(pk=following.pk).update(order=0)


@pytest.mark.parametrize("stars", [-1, 6])
def test_stars_stay_from_0_to_5(stars):
    ballot = BallotFactory()
    choice = ballot.decision.choices.first()
    with transaction.atomic(), pytest.raises(IntegrityError):
        BallotStar.objects.create(ballot=ballot, choice=choice, stars=stars)


@pytest.mark.parametrize("stars", [0, 5])
def test_stars_0_and_5_are_stored(stars):
    ballot = BallotFactory()
    choice = ballot.decision.choices.first()
    BallotStar.objects.create(ballot=ballot, choice=choice, stars=stars)
    assert BallotStar.objects.get().stars == stars


def test_a_ballot_rates_a_choice_once():
    ballot = BallotFactory(stars={"Yes": 1})
    yes = ballot.decision.choices.get(title="Yes")
    with transaction.atomic(), pytest.raises(IntegrityError):
        BallotStar.objects.create(ballot=ballot, choice=yes, stars=2)


def test_a_member_has_one_ballot_per_decision():
    ballot = BallotFactory()
    with transaction.atomic(), pytest.raises(IntegrityError):
        BallotFactory(decision=ballot.decision, membership=ballot.membership)


def test_choice_titles_are_unique_per_decision_in_any_case():
    decision = DecisionFactory(choices=["Park", "Road"])
    with transaction.atomic(), pytest.raises(IntegrityError):
        Choice.objects.create(decision=decision, title="PARK", position=2)


def test_two_decisions_may_share_a_choice_title():
    DecisionFactory(choices=["Park", "Road"])
    DecisionFactory(choices=["park", "road"])
    assert Choice.objects.filter(title__iexact="park").count() == 2


def test_community_names_are_unique_in_any_case():
    CommunityFactory(name="Park Friends")
    with transaction.atomic(), pytest.raises(IntegrityError):
        Community.objects.create(name="park friends")
