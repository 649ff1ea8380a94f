"""A list is never wiped out by an item the viewer may not see: such fields answer empty.

Every field reachable through a list is read by a viewer signed out, a stranger, a pending
member and a member of a private community: nobody gets an error, only insiders get rows.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client
from strawberry.relay import to_base64

from accounts.models import User
from accounts.services.tokens import token_issue
from calc.models import Calculation
from calc.services import decision_calculate
from democracy.demo import demo_create
from democracy.models import DecisionStatus
from tests.factories import (
    BallotFactory,
    CommunityFactory,
    DecisionFactory,
    FollowingFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

GRAPHIQL_JS = Path(__file__).parents[2] / "schema" / "static" / "schema" / "graphiql.js"
VIEWERS = ["signed out", "stranger", "pending member", "member"]

COMMUNITIES = """{ communities(first: 5) { edges { node { name
  myMembership { isApproved }
  members(first: 10) { totalCount edges { node { displayName
    following { followee { displayName } } followers { follower { displayName } } } } }
  decisions(status: OPEN, first: 10) { totalCount edges { node { title choices { title }
    myBallot { isDelegated } calculation { status decision { title } }
    results { winner { title } ballots(first: 10) { totalCount edges { node { membership { displayName } } } } }
    snapshots { totalCount } } } }
} } } }"""
ME = """{ me { memberships { isApproved displayName following { tags } followers { tags }
  community { name members { totalCount } decisions { totalCount } } } } }"""


@pytest.fixture
def private():
    """A private community: a member who voted and follows another, one pending applicant."""
    member = MembershipFactory(user=UserFactory(username="mia"))
    community = member.community
    other = MembershipFactory(community=community, user=UserFactory(username="olaf"))
    FollowingFactory(follower=other, followee=member)
    MembershipFactory(community=community, user=UserFactory(username="pam"), is_approved=False)
    decision = DecisionFactory(community=community, title="Budget")
    BallotFactory(decision=decision, membership=member, stars={"Yes": 5})
    decision_calculate(decision.pk)
    UserFactory(username="sam")
    return community


def client_as(viewer: str):
    username = {"stranger": "sam", "pending member": "pam", "member": "mia"}.get(viewer)
    client = Client()
    headers = {}
    if username is not None:
        token = token_issue(user=User.objects.get(username=username), name="test")[1]
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"

    def post(query: str, operation_name: str | None = None, **variables: str) -> dict:
        body = {"query": query, "operationName": operation_name, "variables": variables}
        response = client.post(
            "/graphql", json.dumps(body), content_type="application/json", **headers
        )
        return response.json()

    return post


@pytest.mark.parametrize("viewer", VIEWERS)
def test_communities_list_every_community_whoever_asks(private, viewer):
    body = client_as(viewer)(COMMUNITIES)
    assert "errors" not in body, body["errors"]
    (node,) = [edge["node"] for edge in body["data"]["communities"]["edges"]]
    inside = viewer == "member"
    assert (
        node["myMembership"]
        == {
            "signed out": None,
            "stranger": None,
            "pending member": {"isApproved": False},
            "member": {"isApproved": True},
        }[viewer]
    )
    assert node["members"]["totalCount"] == (2 if inside else 0)
    assert node["decisions"]["totalCount"] == (1 if inside else 0)
    if inside:
        members = {e["node"]["displayName"]: e["node"] for e in node["members"]["edges"]}
        assert members["mia"]["followers"] == [{"follower": {"displayName": "olaf"}}]
        assert members["olaf"]["following"] == [{"followee": {"displayName": "mia"}}]
        decision = node["decisions"]["edges"][0]["node"]
        assert decision["results"]["winner"] == {"title": "Yes"}
        assert decision["results"]["ballots"]["totalCount"] == 2
        assert decision["calculation"] == {"status": "COMPLETED", "decision": {"title": "Budget"}}
        assert decision["myBallot"] == {"isDelegated": False}
    else:
        assert node["members"]["edges"] == node["decisions"]["edges"] == []


@pytest.mark.parametrize("viewer", VIEWERS)
def test_my_memberships_show_each_community_as_far_as_i_may_see(private, viewer):
    body = client_as(viewer)(ME)
    assert "errors" not in body, body["errors"]
    me = body["data"]["me"]
    if viewer == "signed out":
        assert me is None
        return
    memberships = me["memberships"]
    if viewer == "stranger":
        assert memberships == []
        return
    (mine,) = memberships
    inside = viewer == "member"
    assert mine["isApproved"] is inside
    assert mine["community"]["members"]["totalCount"] == (2 if inside else 0)
    assert mine["community"]["decisions"]["totalCount"] == (1 if inside else 0)


@pytest.mark.parametrize("viewer", VIEWERS)
def test_decisions_filtered_by_status_answer_empty_to_outsiders(private, viewer):
    DecisionFactory(community=private, status=DecisionStatus.CLOSED)
    query = "{ communities { edges { node { decisions(status: CLOSED) { totalCount } } } } }"
    body = client_as(viewer)(query)
    assert "errors" not in body
    total = body["data"]["communities"]["edges"][0]["node"]["decisions"]["totalCount"]
    assert total == (1 if viewer == "member" else 0)


def graphiql_tab(operation: str) -> str:
    """Return the saved GraphiQL tab whose document holds ``operation``."""
    tabs = re.findall(r"`([^`]*)`", GRAPHIQL_JS.read_text())
    (tab,) = [text for text in tabs if f"query {operation}" in text]
    return tab


@pytest.mark.parametrize("username", [None, "alice"])
def test_graphiql_open_decisions_tab_answers_signed_out_and_as_the_demo_s_alice(username):
    demo_create()
    client = Client()
    headers = {}
    if username:
        token = token_issue(user=User.objects.get(username=username), name="test")[1]
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    body = client.post(
        "/graphql",
        json.dumps({"query": graphiql_tab("OpenDecisions"), "operationName": "OpenDecisions"}),
        content_type="application/json",
        **headers,
    ).json()
    assert "errors" not in body, body["errors"]
    communities = {
        edge["node"]["name"]: edge["node"]["decisions"]["edges"]
        for edge in body["data"]["communities"]["edges"]
    }
    assert communities["Harbour Cycling Guild"] == []  # Private: alice is not a member.
    titles = [edge["node"]["title"] for edge in communities["Riverside Commons"]]
    assert titles == ["Spend the 2027 park budget"]


def test_a_page_of_a_public_community_shows_members_and_decisions_to_anyone():
    community = CommunityFactory(results_are_public=True)
    MembershipFactory(community=community)
    DecisionFactory(community=community)
    body = client_as("signed out")(
        "{ communities { edges { node { members { totalCount } decisions { totalCount } } } } }"
    )
    node = body["data"]["communities"]["edges"][0]["node"]
    assert node == {"members": {"totalCount": 1}, "decisions": {"totalCount": 1}}


def test_leaving_a_private_community_lists_none_of_its_calculations():
    """The change queued them, but the caller no longer sees the community's decisions."""
    member = MembershipFactory(user=UserFactory(username="mia"))
    MembershipFactory(community=member.community)
    DecisionFactory(community=member.community, title="Budget")
    body = client_as("member")(
        """mutation($c: ID!) { leaveCommunity(communityId: $c) {
          ok calculations { status decision { title } } } }""",
        c=to_base64("Community", member.community.pk),
    )
    assert "errors" not in body, body["errors"]
    payload = body["data"]["leaveCommunity"]
    assert payload["ok"] is True
    assert payload["calculations"] == []
    assert Calculation.objects.filter(decision__title="Budget", status="QUEUED").exists()


def test_an_applicant_waiting_for_approval_reads_no_calculation_of_the_community():
    community = CommunityFactory(auto_approve_applications=False, results_are_public=False)
    MembershipFactory(community=community)
    DecisionFactory(community=community, title="Budget")
    applicant = UserFactory(username="mia")
    body = client_as("member")(
        """mutation($c: ID!) { joinCommunity(communityId: $c) {
          membership { isApproved } calculations { decision { title results { winner { title } } } } } }""",
        c=to_base64("Community", community.pk),
    )
    assert "errors" not in body, body["errors"]
    payload = body["data"]["joinCommunity"]
    assert payload == {"membership": {"isApproved": False}, "calculations": []}
    assert applicant.memberships.get().is_approved is False


def test_a_member_who_joins_reads_the_calculations_their_joining_queued():
    community = CommunityFactory(auto_approve_applications=True)
    DecisionFactory(community=community, title="Budget")
    UserFactory(username="mia")
    body = client_as("member")(
        """mutation($c: ID!) { joinCommunity(communityId: $c) {
          calculations { status decision { title } } } }""",
        c=to_base64("Community", community.pk),
    )
    calculations = body["data"]["joinCommunity"]["calculations"]
    assert calculations == [{"status": "QUEUED", "decision": {"title": "Budget"}}]


def test_graphiql_cast_ballot_tab_shows_the_message(user):
    """The saved CastBallot tab is valid against the schema and asks for the message."""
    membership = MembershipFactory(user=user)
    decision = DecisionFactory(community=membership.community)
    token = token_issue(user=user, name="test")[1]
    variables = {
        "decisionId": to_base64("Decision", decision.pk),
        "stars": [{"choiceId": to_base64("Choice", decision.choices.first().pk), "stars": 5}],
    }
    body = (
        Client()
        .post(
            "/graphql",
            json.dumps(
                {
                    "query": graphiql_tab("OpenDecisions"),
                    "operationName": "CastBallot",
                    "variables": variables,
                }
            ),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        .json()
    )
    assert "errors" not in body, body["errors"]
    assert body["data"]["castBallot"]["message"].startswith("Vote recorded!")


@pytest.mark.parametrize("viewer", ["follower", "signed out", "manager"])
def test_a_following_of_an_unapproved_member_is_seen_by_managers_only(graphql_as, viewer):
    community = CommunityFactory(results_are_public=True)
    manager = MembershipFactory(community=community, is_manager=True)
    followee = MembershipFactory(community=community, user=UserFactory(username="bob"))
    follower = MembershipFactory(community=community)
    FollowingFactory(follower=follower, followee=followee)
    followee.is_approved = False
    followee.save(update_fields=["is_approved"])
    caller = {"follower": follower.user, "signed out": None, "manager": manager.user}[viewer]

    response = graphql_as(caller)(
        """query($id: ID!) { community(id: $id) { members { edges { node {
          following { followee { displayName } } followers { follower { displayName } } } } } } }""",
        id=to_base64("Community", community.pk),
    )

    assert response.body.get("errors") is None
    nodes = [edge["node"] for edge in response.data["community"]["members"]["edges"]]
    followees = [f["followee"]["displayName"] for n in nodes for f in n["following"]]
    assert followees == (["bob"] if viewer == "manager" else [])
