"""Receivers log each change once, for the right decisions only."""

from __future__ import annotations

import pytest
from django.db.models.signals import ModelSignal, post_delete, post_save

from calc import triggers
from calc.models import Calculation, CalculationStatus, Change
from democracy.models import Ballot, Decision, DecisionStatus, Following, Membership
from democracy.services.ballots import StarsSpec, ballot_cast, ballot_retract
from democracy.services.decisions import decision_close, decision_publish
from democracy.services.followings import following_delete, following_upsert
from democracy.services.memberships import membership_join, membership_leave, membership_update
from tests.factories import (
    BallotFactory,
    CommunityFactory,
    DecisionFactory,
    FollowingFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

RECEIVERS = [
    (post_save, Ballot, triggers.ballot_saved),
    (post_delete, Ballot, triggers.ballot_deleted),
    (post_save, Following, triggers.following_saved),
    (post_delete, Following, triggers.following_deleted),
    (post_save, Membership, triggers.membership_saved),
    (post_delete, Membership, triggers.membership_deleted),
    (post_save, Decision, triggers.decision_saved),
]


def registered(signal: ModelSignal, sender: type, receiver: object) -> int:
    sync_receivers, async_receivers = signal._live_receivers(sender)
    return sum(1 for r in [*sync_receivers, *async_receivers] if r is receiver)


@pytest.mark.parametrize(("signal", "sender", "receiver"), RECEIVERS)
def test_each_receiver_is_registered_exactly_once(signal, sender, receiver):
    assert registered(signal, sender, receiver) == 1
    triggers.connect()
    assert registered(signal, sender, receiver) == 1


def generations(*decisions: Decision) -> list[int]:
    """How many changes each decision's log holds: one per request."""
    return [Change.objects.filter(decision_id=d.pk).count() for d in decisions]


def stars(decision: Decision, **values: int) -> list[StarsSpec]:
    return [
        StarsSpec(choice_id=decision.choices.get(title=title).pk, stars=value)
        for title, value in values.items()
    ]


@pytest.fixture
def world():
    """Two communities: ``here`` with open, open, draft and closed decisions, ``there`` open."""
    here, there = CommunityFactory(), CommunityFactory()
    manager = MembershipFactory(community=here, is_manager=True)
    alice = MembershipFactory(community=here)
    bob = MembershipFactory(community=here)
    elsewhere = MembershipFactory(community=there)
    decisions = {
        "open": DecisionFactory(community=here),
        "other_open": DecisionFactory(community=here),
        "draft": DecisionFactory(community=here, status=DecisionStatus.DRAFT),
        "closed": DecisionFactory(community=here, status=DecisionStatus.CLOSED),
        "there": DecisionFactory(community=there),
    }
    return here, there, manager, alice, bob, elsewhere, decisions


def logs(decisions: dict[str, Decision], before: list[int]) -> dict[str, int]:
    after = generations(*decisions.values())
    return {name: a - b for name, a, b in zip(decisions, after, before, strict=True)}


COMMUNITY_WIDE = {"open": 1, "other_open": 1, "draft": 0, "closed": 0, "there": 0}


def test_one_ballot_cast_logs_its_decision_once(world):
    _, _, _, alice, _, _, decisions = world
    before = generations(*decisions.values())
    ballot_cast(user=alice.user, decision=decisions["open"], stars=stars(decisions["open"], Yes=5))
    assert logs(decisions, before) == {**COMMUNITY_WIDE, "other_open": 0}


def test_ballot_retract_logs_its_decision_once(world):
    _, _, _, alice, _, _, decisions = world
    BallotFactory(decision=decisions["open"], membership=alice, stars={"Yes": 3})
    before = generations(*decisions.values())
    ballot_retract(user=alice.user, decision=decisions["open"])
    assert logs(decisions, before) == {**COMMUNITY_WIDE, "other_open": 0}


def test_follow_logs_every_open_decision_of_the_community_once(world):
    here, _, _, alice, bob, _, decisions = world
    before = generations(*decisions.values())
    following_upsert(user=alice.user, community=here, followee=bob, tags=["budget"])
    assert logs(decisions, before) == COMMUNITY_WIDE


def test_retagging_a_follow_logs_every_open_decision_once(world):
    here, _, _, alice, bob, _, decisions = world
    FollowingFactory(follower=alice, followee=bob)
    before = generations(*decisions.values())
    following_upsert(user=alice.user, community=here, followee=bob, tags=["parks"], order=2)
    assert logs(decisions, before) == COMMUNITY_WIDE


def test_unfollow_logs_every_open_decision_of_the_community_once(world):
    here, _, _, alice, bob, _, decisions = world
    FollowingFactory(follower=alice, followee=bob)
    before = generations(*decisions.values())
    following_delete(user=alice.user, community=here, followee=bob)
    assert logs(decisions, before) == COMMUNITY_WIDE


def test_join_logs_every_open_decision_of_the_community_once(world):
    here, _, _, _, _, _, decisions = world
    before = generations(*decisions.values())
    membership_join(user=UserFactory(), community=here)
    assert logs(decisions, before) == COMMUNITY_WIDE


def test_an_application_waiting_for_approval_logs_nothing_until_approved(world):
    here, _, manager, _, _, _, decisions = world
    here.auto_approve_applications = False
    here.save(update_fields=["auto_approve_applications"])
    applicant = UserFactory()
    before = generations(*decisions.values())

    pending = membership_join(user=applicant, community=here)
    membership_leave(user=applicant, community=here)
    assert logs(decisions, before) == dict.fromkeys(decisions, 0)

    pending = membership_join(user=applicant, community=here)
    membership_update(user=manager.user, membership=pending, is_approved=True)
    assert logs(decisions, before) == COMMUNITY_WIDE


def test_membership_update_logs_every_open_decision_of_the_community_once(world):
    _, _, manager, alice, _, _, decisions = world
    before = generations(*decisions.values())
    membership_update(user=manager.user, membership=alice, is_manager=True)
    assert logs(decisions, before) == COMMUNITY_WIDE


def test_leaving_with_followings_and_ballots_logs_once_not_per_cascaded_row(world):
    here, _, _, alice, bob, _, decisions = world
    FollowingFactory(follower=alice, followee=bob)
    FollowingFactory(follower=bob, followee=alice)
    BallotFactory(decision=decisions["open"], membership=alice, stars={"Yes": 5})
    BallotFactory(decision=decisions["other_open"], membership=alice, stars={"No": 5})
    before = generations(*decisions.values())
    membership_leave(user=alice.user, community=here)
    assert not Following.objects.filter(follower=alice).exists()
    assert not Ballot.objects.filter(membership=alice).exists()
    assert logs(decisions, before) == COMMUNITY_WIDE


def test_publish_logs_that_decision(world):
    _, _, manager, _, _, _, decisions = world
    before = generations(*decisions.values())
    decision_publish(user=manager.user, decision=decisions["draft"])
    assert logs(decisions, before) == {name: int(name == "draft") for name in decisions}


def test_close_logs_that_decision(world):
    _, _, manager, _, _, _, decisions = world
    before = generations(*decisions.values())
    decision_close(user=manager.user, decision=decisions["open"])
    assert logs(decisions, before) == {name: int(name == "open") for name in decisions}


def test_a_burst_of_casts_coalesces_into_one_queued_calculation(world):
    here, _, _, _, _, _, decisions = world
    voters = [MembershipFactory(community=here) for _ in range(12)]
    open_decisions = [decisions["open"], decisions["other_open"]]
    before = generations(*open_decisions)
    for voter in voters:
        for decision in open_decisions:
            ballot_cast(user=voter.user, decision=decision, stars=stars(decision, Yes=4, No=1))
    assert generations(*open_decisions) == [gen + len(voters) for gen in before]
    for decision in open_decisions:
        queued = Calculation.objects.filter(decision=decision, status=CalculationStatus.QUEUED)
        assert queued.count() == 1
    assert Calculation.objects.count() == 2
