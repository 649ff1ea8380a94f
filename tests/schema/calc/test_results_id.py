"""Results and followings have stable global IDs, so normalized caches (Apollo) merge them."""

from __future__ import annotations

import pytest
from strawberry.relay import to_base64

from calc.models import Calculation
from calc.services import decision_calculate
from tests.factories import (
    BallotFactory,
    DecisionFactory,
    FollowingFactory,
    MembershipFactory,
    UserFactory,
)
from tests.schema.conftest import gid

pytestmark = pytest.mark.django_db

RESULTS = (
    """query($id: ID!) { decision(id: $id) { results { id calculationId winner { title } } } }"""
)
NODE = """query($id: ID!) { node(id: $id) { id __typename
  ... on DecisionResults { winner { title } participation { countedBallots } } } }"""
FOLLOWING = """query($id: ID!) { node(id: $id) { id ... on Following { tags
  follower { displayName } followee { displayName } } } }"""


@pytest.fixture
def calculated():
    member = MembershipFactory(user=UserFactory(username="mia"))
    decision = DecisionFactory(community=member.community, choices=["park", "road"])
    BallotFactory(decision=decision, membership=member, stars={"park": 5})
    decision_calculate(decision.pk)
    return member, decision


def test_results_id_names_the_calculation_and_node_finds_it(graphql_as, calculated):
    member, decision = calculated
    client = graphql_as(member.user)
    results = client(RESULTS, id=gid(decision)).data["decision"]["results"]
    calculation = Calculation.objects.get(decision=decision)
    assert results["id"] == to_base64("DecisionResults", calculation.pk)
    assert client(RESULTS, id=gid(decision)).data["decision"]["results"]["id"] == results["id"]
    node = client(NODE, id=results["id"]).data["node"]
    assert node == {
        "id": results["id"],
        "__typename": "DecisionResults",
        "winner": {"title": "park"},
        "participation": {"countedBallots": 1},
    }


def test_a_new_result_has_a_new_id_and_the_old_one_still_resolves(graphql_as, calculated):
    member, decision = calculated
    client = graphql_as(member.user)
    old = client(RESULTS, id=gid(decision)).data["decision"]["results"]["id"]
    other = MembershipFactory(community=member.community)
    BallotFactory(decision=decision, membership=other, stars={"road": 5})
    decision_calculate(decision.pk)
    new = client(RESULTS, id=gid(decision)).data["decision"]["results"]["id"]
    assert new != old
    assert client(NODE, id=old).data["node"]["participation"] == {"countedBallots": 1}
    assert client(NODE, id=new).data["node"]["participation"] == {"countedBallots": 2}


@pytest.mark.parametrize("viewer", ["signed out", "stranger"])
def test_results_node_is_hidden_like_the_decision(graphql_as, calculated, viewer):
    _, decision = calculated
    results_id = to_base64("DecisionResults", Calculation.objects.get(decision=decision).pk)
    user = UserFactory() if viewer == "stranger" else None
    assert graphql_as(user)(NODE, id=results_id).data == {"node": None}


def test_results_node_of_an_unknown_or_unfinished_calculation_is_null(graphql_as, user):
    membership = MembershipFactory(user=user)
    decision = DecisionFactory(community=membership.community)
    queued = Calculation.objects.create(decision=decision, trigger="test")
    client = graphql_as(user)
    assert client(NODE, id=to_base64("DecisionResults", queued.pk)).data == {"node": None}
    assert client(NODE, id=to_base64("DecisionResults", 999)).data == {"node": None}


def test_a_following_has_an_id_node_finds_for_members_only(graphql_as, calculated):
    member, _ = calculated
    follower = MembershipFactory(community=member.community, user=UserFactory(username="olaf"))
    following = FollowingFactory(follower=follower, followee=member, tags=["parks"])
    following_id = to_base64("Following", following.pk)
    assert graphql_as(member.user)(FOLLOWING, id=following_id).data["node"] == {
        "id": following_id,
        "tags": ["parks"],
        "follower": {"displayName": "olaf"},
        "followee": {"displayName": "mia"},
    }
    assert graphql_as(UserFactory())(FOLLOWING, id=following_id).data == {"node": None}
