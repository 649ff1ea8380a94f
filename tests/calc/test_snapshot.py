"""Freezing a decision for the engine: who takes part, with what, and storing it."""

from __future__ import annotations

import pytest

from calc.engine import (
    DirectBallot,
    Following,
    FrozenDecision,
    Member,
    Role,
    TieBreakPolicy,
    content_hash,
    decision_to_json,
)
from calc.snapshot import snapshot_pack, snapshot_read, snapshot_unpack
from democracy.models import DecisionStatus
from democracy.models import Role as MemberRole
from democracy.models import TieBreakPolicy as CommunityTieBreakPolicy
from tests.factories import (
    BallotFactory,
    CommunityFactory,
    DecisionFactory,
    FollowingFactory,
    MembershipFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene():
    """Return a decision with voters, a lobbyist, a pending applicant and noise around them."""
    community = CommunityFactory(tie_break_policy=CommunityTieBreakPolicy.UNRESOLVED)
    ann = MembershipFactory(community=community)
    eve = MembershipFactory(community=community, role=MemberRole.LOBBYIST)
    ben = MembershipFactory(community=community)
    pending = MembershipFactory(community=community, is_approved=False)
    decision = DecisionFactory(community=community, choices=["Park", "Road"])
    other_decision = DecisionFactory(community=community, choices=["Yes", "No"])
    FollowingFactory(follower=ben, followee=ann, tags=["budget"], order=1)
    FollowingFactory(follower=ben, followee=eve, tags=[], order=2)
    FollowingFactory(follower=pending, followee=ann)
    FollowingFactory(follower=ann, followee=pending)
    BallotFactory(decision=decision, membership=ann, stars={"Park": 5, "Road": 1}, tags=["budget"])
    BallotFactory(decision=decision, membership=eve, stars={"Park": 2}, tags=["budget", "parks"])
    BallotFactory(decision=decision, membership=pending, stars={"Road": 5})
    BallotFactory(decision=other_decision, membership=ben, stars={"Yes": 5})
    elsewhere = DecisionFactory(choices=["Park", "Road"])
    BallotFactory(decision=elsewhere, stars={"Park": 5})
    return decision, ann, eve, ben


def test_snapshot_holds_approved_members_their_links_and_their_ballots(scene):
    decision, ann, eve, ben = scene
    park, road = (str(decision.choices.get(title=title).pk) for title in ("Park", "Road"))

    snapshot = snapshot_read(decision.pk)

    expected = FrozenDecision(
        choices=(park, road),
        members=(
            Member(str(ann.pk), Role.VOTER),
            Member(str(eve.pk), Role.LOBBYIST),
            Member(str(ben.pk), Role.VOTER),
        ),
        followings=(
            Following(str(ben.pk), str(ann.pk), frozenset({"budget"}), 1),
            Following(str(ben.pk), str(eve.pk), frozenset(), 2),
        ),
        ballots=(
            DirectBallot.of(str(ann.pk), {park: 5, road: 1}, {"budget"}),
            DirectBallot.of(str(eve.pk), {park: 2}, {"budget", "parks"}),
        ),
        tie_break_policy=TieBreakPolicy.UNRESOLVED,
    )
    assert decision_to_json(snapshot.frozen) == decision_to_json(expected)
    assert snapshot.frozen.tie_break_policy is TieBreakPolicy.UNRESOLVED
    assert snapshot.choice_titles == {park: "Park", road: "Road"}
    assert snapshot.status == DecisionStatus.OPEN
    decision.refresh_from_db()
    assert snapshot.generation == decision.calc_requested_gen > 0


def test_snapshot_of_a_decision_without_ballots_has_members_and_no_ballots(db):
    decision = DecisionFactory(choices=["Yes", "No"])
    member = MembershipFactory(community=decision.community)
    frozen = snapshot_read(decision.pk).frozen
    assert frozen.members == (Member(str(member.pk), Role.VOTER),)
    assert frozen.ballots == ()
    assert frozen.tie_break_policy is TieBreakPolicy.LOT


def test_pack_and_unpack_round_trip_bit_for_bit(scene):
    frozen = snapshot_read(scene[0].pk).frozen
    packed = snapshot_pack(frozen)
    unpacked = snapshot_unpack(memoryview(packed.data))
    assert decision_to_json(unpacked) == decision_to_json(frozen)
    assert snapshot_pack(unpacked) == packed


def test_packed_hash_is_the_engines_content_hash(scene):
    frozen = snapshot_read(scene[0].pk).frozen
    assert snapshot_pack(frozen).content_hash == content_hash(frozen)
