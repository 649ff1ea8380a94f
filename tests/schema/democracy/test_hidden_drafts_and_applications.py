"""Drafts are seen by managers only; a pending membership by its member and the managers."""

from __future__ import annotations

import pytest

from democracy.models import DecisionStatus
from tests.factories import CommunityFactory, DecisionFactory, MembershipFactory, UserFactory
from tests.schema.conftest import gid

pytestmark = pytest.mark.django_db

LIST = """query($id: ID!) { community(id: $id) {
  decisions { totalCount edges { node { title } } } } }"""
BY_ID = """query($id: ID!) { decision(id: $id) { title choices { title } } }"""
NODE = """query($id: ID!) { node(id: $id) { __typename
  ... on Decision { title } ... on Choice { title } ... on Membership { role isApproved } } }"""
MEMBERS = """query($id: ID!) { community(id: $id) { members { edges { node { id } } } } }"""


@pytest.fixture
def community():
    community = CommunityFactory(results_are_public=True)
    manager = MembershipFactory(community=community, is_manager=True)
    member = MembershipFactory(community=community)
    pending = MembershipFactory(community=community, is_approved=False)
    draft = DecisionFactory(
        community=community, title="Secret plan", status=DecisionStatus.DRAFT, choices=["Hush"]
    )
    published = DecisionFactory(community=community, title="Open question")
    return {
        "community": community,
        "manager": manager,
        "member": member,
        "pending": pending,
        "draft": draft,
        "published": published,
    }


def viewers(world):
    """Every role but the manager: none of them may see a draft."""
    return {
        "member": world["member"].user,
        "pending": world["pending"].user,
        "outsider": UserFactory(),
        "signed out": None,
    }


def test_managers_see_drafts_everywhere(graphql_as, community):
    client = graphql_as(community["manager"].user)
    titles = [
        e["node"]["title"]
        for e in client(LIST, id=gid(community["community"])).data["community"]["decisions"][
            "edges"
        ]
    ]
    assert "Secret plan" in titles
    assert client(BY_ID, id=gid(community["draft"])).data["decision"] == {
        "title": "Secret plan",
        "choices": [{"title": "Hush"}],
    }
    assert client(NODE, id=gid(community["draft"])).data["node"]["title"] == "Secret plan"
    choice = community["draft"].choices.get()
    assert client(NODE, id=gid(choice)).data["node"]["title"] == "Hush"


@pytest.mark.parametrize("role", ["member", "pending", "outsider", "signed out"])
def test_nobody_else_sees_a_draft_by_any_path(graphql_as, community, role):
    client = graphql_as(viewers(community)[role])
    listed = client(LIST, id=gid(community["community"])).body
    assert "Secret plan" not in str(listed)
    assert "Open question" in str(listed)  # The public community's published decision.
    assert listed["data"]["community"]["decisions"]["totalCount"] == 1
    assert client(BY_ID, id=gid(community["draft"])).data["decision"] is None
    assert client(NODE, id=gid(community["draft"])).data["node"] is None
    choice = community["draft"].choices.get()
    assert client(NODE, id=gid(choice)).data["node"] is None


def test_a_published_decision_is_seen_by_members(graphql_as, community):
    client = graphql_as(community["member"].user)
    assert client(BY_ID, id=gid(community["published"])).data["decision"]["title"] == (
        "Open question"
    )


@pytest.mark.parametrize("role", ["manager", "pending"])
def test_a_pending_membership_is_seen_by_its_member_and_the_managers(graphql_as, community, role):
    client = graphql_as(community[role].user)
    node = client(NODE, id=gid(community["pending"])).data["node"]
    assert node == {"__typename": "Membership", "role": "VOTER", "isApproved": False}


@pytest.mark.parametrize("role", ["member", "outsider", "signed out"])
def test_a_pending_membership_is_hidden_from_everyone_else(graphql_as, community, role):
    client = graphql_as(viewers(community)[role])
    assert client(NODE, id=gid(community["pending"])).data["node"] is None
    members = client(MEMBERS, id=gid(community["community"])).body
    assert gid(community["pending"]) not in str(members)


def test_approved_members_stay_visible_to_members_and_visitors(graphql_as, community):
    for user in (community["member"].user, None):
        node = graphql_as(user)(NODE, id=gid(community["manager"])).data["node"]
        assert node["isApproved"] is True
