"""Once anonymous, a member's username and email reach nobody but themselves.

A member joins under their username, votes, delegates and is delegated to, and only then
turns anonymous; every answer to anyone else (members, managers, visitors of a public
community, subscribers) is searched for their username and email.
"""

from __future__ import annotations

import importlib
import json
import logging

import pytest
from asgiref.sync import sync_to_async

from accounts.services.tokens import token_issue
from calc.models import Calculation
from calc.services import decision_calculate
from democracy.models import Membership
from democracy.pseudonyms import pseudonym
from tests.factories import CommunityFactory, DecisionFactory, MembershipFactory, UserFactory
from tests.schema.conftest import gid
from tests.schema.sockets import STATUS, open_socket, subscribe

JOIN = """mutation($c: ID!, $anonymous: Boolean) {
  joinCommunity(communityId: $c, isAnonymous: $anonymous) {
    membership { id displayName isAnonymous } calculations { trigger } errors { code field } } }"""
GO_ANONYMOUS = """mutation($m: ID!) { updateMembership(input: {membershipId: $m, isAnonymous: true}) {
  membership { displayName } calculations { trigger } errors { code } } }"""
CAST = """mutation($input: CastBallotInput!) { castBallot(input: $input) {
  calculations { trigger } errors { code } } }"""
FOLLOW = """mutation($input: FollowInput!) { follow(input: $input) {
  following { follower { displayName } } calculations { trigger } errors { code } } }"""
EVERYTHING = """query($c: ID!, $d: ID!, $m: ID!) {
  community(id: $c) { members(first: 20) { edges { node { id displayName
    following { followee { displayName } } followers { follower { displayName } } } } } }
  decision(id: $d) {
    calculation { trigger error }
    snapshots(first: 20) { edges { node { trigger error changeCount } } }
    results { ballots(first: 20) { edges { node { membership { displayName } comment } } } }
    explanation(membershipId: $m) { membership { displayName }
      sources { delegate { displayName } explanation { membership { displayName } } } }
  }
  node(id: $m) { ... on Membership { displayName } }
}"""


def choice_stars(decision, **stars):
    return [{"choiceId": gid(decision.choices.get(title=t)), "stars": s} for t, s in stars.items()]


@pytest.fixture
def unmasked_then_anonymous(graphql_as):
    community = CommunityFactory(results_are_public=True)
    manager = MembershipFactory(community=community, is_manager=True)
    friend = MembershipFactory(community=community)
    decision = DecisionFactory(community=community, choices=["park", "road"])
    zelda = UserFactory(username="zelda", email="zelda.secret@example.org")
    client = graphql_as(zelda)
    assert client(JOIN, c=gid(community)).data["joinCommunity"]["errors"] == []
    membership = zelda.memberships.get()
    client(CAST, input={"decisionId": gid(decision), "stars": choice_stars(decision, park=5)})
    client(FOLLOW, input={"communityId": gid(community), "followeeId": gid(friend)})
    graphql_as(friend.user)(
        FOLLOW, input={"communityId": gid(community), "followeeId": gid(membership)}
    )
    decision_calculate(decision.pk)
    went = client(GO_ANONYMOUS, m=gid(membership)).data["updateMembership"]
    assert went["errors"] == []
    decision_calculate(decision.pk)
    return community, manager, friend, decision, membership, client


def assert_unnamed(answer: object) -> None:
    text = json.dumps(answer)
    assert "zelda" not in text.lower(), text


@pytest.mark.django_db
def test_no_answer_to_anyone_else_names_the_anonymous_member(graphql_as, unmasked_then_anonymous):
    community, manager, friend, decision, membership, _ = unmasked_then_anonymous
    variables = {"c": gid(community), "d": gid(decision), "m": gid(membership)}
    for viewer in (manager.user, friend.user, UserFactory(), None):
        client = graphql_as(viewer)
        answer = client(EVERYTHING, **variables).data
        assert answer["decision"]["results"]["ballots"]["edges"]  # Read, not merely hidden.
        assert pseudonym(membership.pk) in json.dumps(answer)
        assert_unnamed(answer)
    # Mutation payloads show the calculations the change queued, with their triggers.
    voted = graphql_as(friend.user)(
        CAST, input={"decisionId": gid(decision), "stars": choice_stars(decision, road=3)}
    )
    assert_unnamed(voted.body)
    assert not Calculation.objects.filter(trigger__icontains="zelda").exists()


@pytest.mark.django_db
def test_the_member_still_reads_their_own_membership(unmasked_then_anonymous):
    *_, client = unmasked_then_anonymous
    me = client("{ me { username memberships { displayName isAnonymous } } }").data["me"]
    assert me["username"] == "zelda"
    assert me["memberships"][0]["isAnonymous"] is True


@pytest.mark.django_db(transaction=True)
async def test_status_subscribers_never_receive_the_name(unmasked_then_anonymous):
    _, _, friend, decision, _, _ = unmasked_then_anonymous
    token = (await sync_to_async(token_issue)(user=friend.user))[1]
    for viewer_token in (token, None):
        socket = await open_socket(viewer_token)
        await subscribe(
            socket, "s", STATUS.replace("id status", "id status trigger"), id=gid(decision)
        )
        assert_unnamed(await socket.receive_json_from(timeout=5))
        membership = await sync_to_async(Membership.objects.get)(user__username="zelda")
        membership.role = "VOTER"
        await sync_to_async(membership.save)()  # Queues a calculation: its broadcast goes out.
        await sync_to_async(decision_calculate)(decision.pk)
        for _ in range(6):
            assert_unnamed(await socket.receive_json_from(timeout=5))
        await socket.disconnect()


@pytest.mark.django_db
def test_joining_anonymously_hides_the_username_from_the_first_moment(graphql_as, caplog):
    community = CommunityFactory()
    zelda = UserFactory(username="zelda", email="zelda.secret@example.org")
    with caplog.at_level(logging.INFO, logger="crowdvote.events"):
        joined = graphql_as(zelda)(JOIN, c=gid(community), anonymous=True).data["joinCommunity"]
    assert joined["errors"] == []
    assert joined["membership"]["isAnonymous"] is True
    membership = zelda.memberships.get()
    assert joined["membership"]["displayName"] == pseudonym(membership.pk)
    events = [(r.event, r.actor, r.getMessage()) for r in caplog.records]
    assert ("MEMBER_JOINED", pseudonym(membership.pk)) in [e[:2] for e in events]
    # The sign-in token is the account's own business; every membership line is anonymous.
    assert_unnamed([e for e in events if e[0] != "TOKEN_ISSUED"])


@pytest.mark.django_db
def test_a_lobbyist_cannot_join_anonymously(graphql_as):
    community = CommunityFactory()
    client = graphql_as(UserFactory())
    answer = client(
        """mutation($c: ID!) { joinCommunity(communityId: $c, role: LOBBYIST, isAnonymous: true) {
        membership { id } errors { code field } } }""",
        c=gid(community),
    ).data["joinCommunity"]
    assert answer == {
        "membership": None,
        "errors": [{"code": "LOBBYIST_CANNOT_BE_ANONYMOUS", "field": "isAnonymous"}],
    }
    assert not Membership.objects.filter(community=community).exists()


MIGRATION = importlib.import_module("calc.migrations.0005_triggers_name_nobody")


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("zelda joined", "Member joined"),
        ("Membership of zelda changed", "Membership changed"),
        ("Membership of Quiet Otter 3f9a changed", "Membership changed"),
        ("zelda left", "Member left"),
        ("Ballot cast by zelda", "Ballot cast"),
        ("Ballot retracted by zelda", "Ballot retracted"),
        ("zelda follows ann", "Delegation changed"),
        ("zelda unfollowed ann", "Delegation removed"),
        ("Recalculation requested by zelda", "Recalculation requested by a manager"),
        ("Decision open", "Decision open"),
        ("Retry after a failure", "Retry after a failure"),
        ("Operator request", "Operator request"),
        ("something zelda wrote once", "Community changed"),
    ],
)
def test_the_migration_rewrites_every_name_bearing_trigger(stored, shown):
    assert MIGRATION.name_free(stored) == shown


@pytest.mark.django_db
def test_the_migration_rewrites_stored_rows():
    from django.apps import apps

    decision = DecisionFactory()
    named = Calculation.objects.create(decision=decision, trigger="zelda joined")
    kept = Calculation.objects.create(
        decision=decision, trigger="Decision open", status="COMPLETED"
    )
    MIGRATION.rewrite(apps, None)
    named.refresh_from_db()
    kept.refresh_from_db()
    assert (named.trigger, kept.trigger) == ("Member joined", "Decision open")
