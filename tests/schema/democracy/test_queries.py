"""Reading communities, members and decisions: visibility, pagination, nodes, query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from democracy.models import DecisionStatus
from tests.factories import (
    CommunityFactory,
    DecisionFactory,
    FollowingFactory,
    MembershipFactory,
    UserFactory,
)
from tests.schema.conftest import gid

pytestmark = pytest.mark.django_db

COMMUNITIES = """
query($first: Int, $after: String) {
  communities(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { name } }
  }
}"""
MEMBERS = """
query($id: ID!) {
  community(id: $id) {
    members(first: 50) { totalCount edges { node { displayName role
      following { followee { displayName } tags } followers { follower { displayName } } } } }
  }
}"""
DECISIONS = """
query($id: ID!, $status: DecisionStatus) {
  community(id: $id) { decisions(status: $status) { totalCount edges { node { title status } } } }
}"""
NODE = """query($id: ID!) { node(id: $id) { id __typename ... on Decision { title } } }"""
ME = """{ me { username memberships { community { name } isManager } } }"""


def test_communities_page_with_cursor(graphql_as):
    for name in ("A", "B", "C"):
        CommunityFactory(name=name)
    client = graphql_as(None)
    first = client(COMMUNITIES, first=2).data["communities"]
    assert first["totalCount"] == 3
    assert [e["node"]["name"] for e in first["edges"]] == ["A", "B"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = client(COMMUNITIES, first=2, after=first["pageInfo"]["endCursor"]).data["communities"]
    assert [e["node"]["name"] for e in rest["edges"]] == ["C"]
    assert rest["pageInfo"]["hasNextPage"] is False


def test_members_of_a_private_community_are_hidden_from_outsiders(graphql_as, user):
    community = CommunityFactory()
    MembershipFactory(community=community)
    members = graphql_as(user)(MEMBERS, id=gid(community)).data["community"]["members"]
    assert members == {"totalCount": 0, "edges": []}


def test_members_of_public_community_are_visible_with_pseudonyms(graphql_as):
    community = CommunityFactory(results_are_public=True)
    MembershipFactory(community=community, user=UserFactory(username="shy"), is_anonymous=True)
    MembershipFactory(community=community, user=UserFactory(username="loud"))
    names = [
        e["node"]["displayName"]
        for e in graphql_as(None)(MEMBERS, id=gid(community)).data["community"]["members"]["edges"]
    ]
    assert "loud" in names
    assert "shy" not in names
    assert len(names) == 2


def test_members_listing_is_free_of_n_plus_one(graphql_as, user):
    community = CommunityFactory()
    me = MembershipFactory(community=community, user=user)
    client = graphql_as(user)

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client(MEMBERS, id=gid(community)).data["community"]
        return len(captured)

    for _ in range(3):
        FollowingFactory(follower=MembershipFactory(community=community), followee=me)
    count_queries()  # The first request also records when the token was last used.
    few = count_queries()
    for _ in range(12):
        FollowingFactory(follower=MembershipFactory(community=community), followee=me, tags=["x"])
    assert count_queries() == few


def test_decisions_filter_by_status(graphql_as, user):
    membership = MembershipFactory(user=user)
    DecisionFactory(community=membership.community, title="Open one")
    DecisionFactory(community=membership.community, title="Draft", status=DecisionStatus.DRAFT)
    data = graphql_as(user)(DECISIONS, id=gid(membership.community), status="OPEN").data
    assert data["community"]["decisions"]["edges"] == [
        {"node": {"title": "Open one", "status": "OPEN"}}
    ]


def test_node_finds_a_visible_decision_and_hides_a_private_one(graphql_as, user):
    mine = DecisionFactory(community=MembershipFactory(user=user).community, title="Mine")
    private = DecisionFactory(title="Theirs")
    client = graphql_as(user)
    assert client(NODE, id=gid(mine)).data["node"]["title"] == "Mine"
    assert client(NODE, id=gid(private)).data["node"] is None
    assert client("query($id: ID!) { decision(id: $id) { title } }", id=gid(private)).data == {
        "decision": None
    }


def test_me_lists_my_memberships_and_is_null_when_signed_out(graphql_as, user):
    MembershipFactory(user=user, community=CommunityFactory(name="Garden"), is_manager=True)
    assert graphql_as(user)(ME).data["me"] == {
        "username": "alice",
        "memberships": [{"community": {"name": "Garden"}, "isManager": True}],
    }
    assert graphql_as(None)(ME).data == {"me": None}


def test_query_depth_is_limited(graphql_as, user):
    deep = (
        "{ me { memberships { community { members { edges { node { community { members {"
        " edges { node { community { members { edges { node { id } } } } } } } } } } } } } } }"
    )
    response = graphql_as(user)(deep)
    assert "exceeds maximum operation depth" in response.body["errors"][0]["message"]


def test_aliases_are_limited(graphql_as):
    many = "{ " + " ".join(f"a{i}: me {{ username }}" for i in range(40)) + " }"
    response = graphql_as(None)(many)
    assert "aliases found" in response.body["errors"][0]["message"]
