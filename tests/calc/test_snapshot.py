"""Freezing a decision for the engine: who takes part, with what, and storing it."""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from calc.calculation_rows import generation_stamped
from calc.engine import (
    DecisionColumns,
    DirectBallot,
    EngineInputError,
    Following,
    FrozenDecision,
    Member,
    Role,
    TieBreakPolicy,
    content_hash,
    decision_from_columns,
    decision_to_json,
)
from calc.models import Calculation, CalculationStatus, StoredSnapshot
from calc.snapshot import (
    snapshot_load,
    snapshot_pack,
    snapshot_read,
    snapshot_store,
    snapshot_store_changes,
    snapshot_unpack,
)
from democracy.models import Ballot, BallotStar, Choice, Decision, DecisionStatus, Membership
from democracy.models import Following as FollowingRow
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
    generation_stamped(decision.pk)

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
    assert frozen.member_ids == (str(member.pk),)
    assert frozen.is_voter.tolist() == [True]
    assert frozen.ballot_member.size == frozen.follow_src.size == 0
    assert frozen.tie_break_policy is TieBreakPolicy.LOT
    assert decision_from_columns(frozen).members == (Member(str(member.pk), Role.VOTER),)


def test_pack_and_unpack_round_trip_bit_for_bit(scene):
    frozen = snapshot_read(scene[0].pk).frozen
    packed = snapshot_pack(frozen)
    from_json = snapshot_unpack(memoryview(packed.canonical))
    from_arrays = snapshot_unpack(b"", memoryview(packed.columns))
    assert decision_to_json(from_json) == decision_to_json(frozen)
    assert decision_to_json(from_arrays) == decision_to_json(frozen)
    assert from_arrays.member_ids == frozen.member_ids  # the arrays keep the read's own order
    for again in (from_json, from_arrays):
        assert snapshot_pack(again).canonical == packed.canonical
        assert snapshot_pack(again).content_hash == packed.content_hash


def test_packed_hash_is_the_engines_content_hash(scene):
    frozen = snapshot_read(scene[0].pk).frozen
    assert snapshot_pack(frozen).content_hash == content_hash(frozen)


def _orm_snapshot(decision_id: int) -> FrozenDecision:
    """The former ORM implementation of the read, kept as the oracle of the SQL one."""
    decision = Decision.objects.select_related("community").get(pk=decision_id)
    community_id = decision.community_id
    choices = list(Choice.objects.filter(decision_id=decision_id).values_list("id", flat=True))
    members = Membership.objects.filter(community_id=community_id, is_approved=True)
    followings = FollowingRow.objects.filter(
        community_id=community_id, follower__is_approved=True, followee__is_approved=True
    ).values_list("follower_id", "followee_id", "tags", "order")
    ballots = Ballot.objects.filter(decision_id=decision_id, membership__is_approved=True)
    stars: dict[int, dict[str, int]] = defaultdict(dict)
    for ballot_id, choice_id, value in BallotStar.objects.filter(
        ballot__decision_id=decision_id
    ).values_list("ballot_id", "choice_id", "stars"):
        stars[ballot_id][str(choice_id)] = value
    return FrozenDecision(
        choices=tuple(map(str, choices)),
        members=tuple(
            Member(str(pk), Role(role)) for pk, role in members.values_list("id", "role")
        ),
        followings=tuple(
            Following(str(a), str(b), frozenset(tags), order) for a, b, tags, order in followings
        ),
        ballots=tuple(
            DirectBallot.of(str(m), stars.get(pk, {}), tags)
            for pk, m, tags in ballots.values_list("id", "membership_id", "tags")
        ),
        tie_break_policy=TieBreakPolicy(decision.community.tie_break_policy),
    )


def test_snapshot_equals_the_orm_read(scene):
    decision = scene[0]
    FollowingFactory()  # in another community: not read
    frozen = snapshot_read(decision.pk).frozen
    assert decision_to_json(frozen) == decision_to_json(_orm_snapshot(decision.pk))
    assert decision_from_columns(frozen).followings


def test_a_link_to_another_communitys_member_is_refused_by_name(scene):
    decision, _, _, ben = scene
    stranger = MembershipFactory()  # approved, but elsewhere: data no service writes
    FollowingFactory(community=decision.community, follower=ben, followee=stranger, order=3)
    with pytest.raises(EngineInputError, match=f"followee {stranger.pk} is not part of"):
        snapshot_read(decision.pk)


def test_stored_arrays_keep_extreme_values_and_any_strings():
    frozen = DecisionColumns(
        choices=("ä", "b"),
        member_ids=('z\n"', "ann", "ben"),
        is_voter=[True, False, True],
        follow_src=[1, 2],
        follow_dst=[0, 0],
        follow_tag_sets=[frozenset({"budget", "ünï"}), frozenset()],
        follow_tag_code=[0, 1],
        follow_order=[-(2**40), 2**62],
        ballot_member=[0],
        ballot_stars=[[5, 0]],
        ballot_tag_sets=[frozenset({"budget"})],
        ballot_tag_code=[0],
        tie_break_policy="UNRESOLVED",
    )
    packed = snapshot_pack(frozen)
    again = snapshot_unpack(b"", packed.columns)
    assert decision_to_json(again) == decision_to_json(frozen)
    assert again.follow_order.tolist() == [-(2**40), 2**62]
    assert again.member_ids == frozen.member_ids


def test_a_snapshot_stored_again_replaces_the_first_in_one_statement(scene):
    decision = scene[0]
    first, second = (
        Calculation.objects.create(decision=decision, status=CalculationStatus.COMPLETED)
        for _ in range(2)
    )
    packed = snapshot_pack(snapshot_read(decision.pk).frozen)
    base = snapshot_store(first, packed)
    snapshot_store(second, packed)
    with CaptureQueriesContext(connection) as captured:
        stored = snapshot_store_changes(second, base, [])
    assert len(captured.captured_queries) == 1
    again = StoredSnapshot.objects.get(pk=second.pk)
    assert (again.previous_id, again.depth, bytes(again.columns)) == (first.pk, 1, b"")
    assert (stored.pk, stored.previous_id, stored.depth) == (second.pk, first.pk, 1)
    assert snapshot_load(second.pk).member_ids == snapshot_load(first.pk).member_ids
    whole = StoredSnapshot.objects.get(pk=first.pk)
    assert (bytes(whole.canonical), whole.depth) == (packed.canonical, 0)
