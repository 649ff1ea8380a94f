"""Mutations that queue recalculation confirm it in words a front end can show as is."""

from __future__ import annotations

import pytest

from democracy.models import DecisionStatus
from tests.factories import (
    CommunityFactory,
    DecisionFactory,
    MembershipFactory,
    UserFactory,
)
from tests.schema.conftest import gid

pytestmark = pytest.mark.django_db

RECALCULATING = "Results are being recalculated…"
CAST = """mutation($d: ID!, $c: ID!) { castBallot(input: {decisionId: $d,
  stars: [{choiceId: $c, stars: 4}]}) { message calculations { status } errors { code } } }"""
RETRACT = "mutation($d: ID!) { retractBallot(decisionId: $d) { message errors { code } } }"
FOLLOW = """mutation($c: ID!, $m: ID!) { follow(input: {communityId: $c, followeeId: $m}) {
  message errors { code } } }"""
UNFOLLOW = """mutation($c: ID!, $m: ID!) { unfollow(communityId: $c, followeeId: $m) {
  message errors { code } } }"""
JOIN = "mutation($c: ID!) { joinCommunity(communityId: $c) { message errors { code } } }"
LEAVE = "mutation($c: ID!) { leaveCommunity(communityId: $c) { message errors { code } } }"
UPDATE = """mutation($m: ID!) { updateMembership(input: {membershipId: $m, isAnonymous: true}) {
  message errors { code } } }"""
PUBLISH = "mutation($d: ID!) { publishDecision(decisionId: $d) { message errors { code } } }"
CLOSE = "mutation($d: ID!) { closeDecision(decisionId: $d) { message errors { code } } }"
RECALCULATE = """mutation($d: ID!) { recalculateDecision(decisionId: $d) {
  message errors { code } } }"""


@pytest.fixture
def riverside(user):
    """alice manages Riverside, which has one open decision; bob is a member."""
    community = CommunityFactory(name="Riverside")
    me = MembershipFactory(user=user, community=community, is_manager=True)
    bob = MembershipFactory(user=UserFactory(username="bob"), community=community)
    decision = DecisionFactory(community=community, choices=["Park", "Road"])
    return me, bob, decision


def message(response, mutation: str) -> str | None:
    payload = response.data[mutation]
    assert payload["errors"] == []
    return payload["message"]


def test_casting_and_retracting_a_ballot_say_results_are_recalculated(graphql_as, riverside):
    me, _, decision = riverside
    client = graphql_as(me.user)
    park = gid(decision.choices.get(title="Park"))
    cast = client(CAST, d=gid(decision), c=park).data["castBallot"]
    assert cast["message"] == f"Vote recorded! {RECALCULATING}"
    assert cast["calculations"] == [{"status": "QUEUED"}]
    retracted = message(client(RETRACT, d=gid(decision)), "retractBallot")
    assert retracted == f"Vote retracted. {RECALCULATING}"


def test_following_and_unfollowing(graphql_as, riverside):
    me, bob, _ = riverside
    client = graphql_as(me.user)
    ids = {"c": gid(me.community), "m": gid(bob)}
    assert message(client(FOLLOW, **ids), "follow") == f"Following updated! {RECALCULATING}"
    assert message(client(UNFOLLOW, **ids), "unfollow") == f"Unfollowed. {RECALCULATING}"


def test_joining_welcomes_or_says_the_application_waits(graphql_as, riverside):
    me, _, _ = riverside
    client = graphql_as(UserFactory(username="cat"))
    welcome = message(client(JOIN, c=gid(me.community)), "joinCommunity")
    assert welcome == f"Welcome to Riverside! {RECALCULATING}"
    guild = CommunityFactory(name="Guild", auto_approve_applications=False)
    applied = message(client(JOIN, c=gid(guild)), "joinCommunity")
    assert applied == "Application to Guild sent: a manager will review it."


def test_leaving_and_updating_a_membership(graphql_as, riverside):
    _, bob, _ = riverside
    client = graphql_as(bob.user)
    updated = message(client(UPDATE, m=gid(bob)), "updateMembership")
    assert updated == f"Membership updated! {RECALCULATING}"
    left = message(client(LEAVE, c=gid(bob.community)), "leaveCommunity")
    assert left == f"You have left Riverside. {RECALCULATING}"


def test_without_open_decisions_nothing_is_said_about_results(graphql_as, user):
    quiet = CommunityFactory(name="Quiet")
    client = graphql_as(user)
    assert message(client(JOIN, c=gid(quiet)), "joinCommunity") == "Welcome to Quiet!"


def test_publishing_closing_and_recalculating_a_decision(graphql_as, riverside):
    me, _, decision = riverside
    client = graphql_as(me.user)
    recalculated = message(client(RECALCULATE, d=gid(decision)), "recalculateDecision")
    assert recalculated == f"Recalculation requested! {RECALCULATING}"
    closed = message(client(CLOSE, d=gid(decision)), "closeDecision")
    assert closed == f"Decision closed! {RECALCULATING}"
    draft = DecisionFactory(community=me.community, status=DecisionStatus.DRAFT)
    published = message(client(PUBLISH, d=gid(draft)), "publishDecision")
    assert published == f"Decision published! {RECALCULATING}"


def test_a_failed_mutation_has_no_message(graphql_as, riverside):
    me, bob, decision = riverside
    joined_twice = graphql_as(me.user)(JOIN, c=gid(me.community)).data["joinCommunity"]
    assert joined_twice["errors"]
    assert joined_twice["message"] is None
    nothing_to_retract = graphql_as(bob.user)(RETRACT, d=gid(decision)).data["retractBallot"]
    assert nothing_to_retract["errors"]
    assert nothing_to_retract["message"] is None
