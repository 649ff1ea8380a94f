"""A page costs the same number of SQL queries whatever its size: 1 item or 10.

Each count is pinned: a change that reads per item, or adds a query, shows up here.
"""

from __future__ import annotations

import pytest

from calc import results
from calc.services import decision_calculate
from democracy.models import Community
from tests.factories import (
    BallotFactory,
    DecisionFactory,
    FollowingFactory,
    MembershipFactory,
    UserFactory,
)
from tests.schema.conftest import gid

pytestmark = pytest.mark.django_db

DECISION = """fragment D on Decision { title choices { title }
  results { calculationId winner { title } scores { choice { title } totalStars }
    participation { countedBallots }
    ballots(first: 5) { totalCount edges { node { membership { displayName } isDelegated } } } }
  calculation { id status trigger }
  myBallot { isDelegated stars { choice { title } stars } } }"""
COMMUNITIES = (
    """{ communities(first: 10) { edges { node { name myMembership { role }
  members(first: 10) { totalCount edges { node { displayName } } }
  decisions(first: 10) { totalCount edges { node { ...D } } } } } } }"""
    + DECISION
)
DECISIONS = (
    """query($id: ID!) { community(id: $id) {
  decisions(first: 10) { totalCount edges { node { ...D } } } } }"""
    + DECISION
)
MEMBERS = """query($id: ID!) { community(id: $id) { members { edges { node { displayName
  following { followee { displayName } tags } followers { follower { displayName } } } } } } }"""

# Token (1); communities (1), the viewer's memberships (1), members (1), decisions (1); per
# decision field, one query for the page: choices (1), the viewer's ballots and their stars
# (2), the viewer's membership through the decision's community (2), current results and
# the choices they name (2), the results' snapshots and their ballots' members (2), latest
# calculations (1).
COMMUNITIES_QUERIES = 15
# Token (1), community (1), its decisions (1), then the decision fields as above, the
# viewer's membership in one query since the community is known (9).
DECISIONS_QUERIES = 12
# Token (1), community (1), members (1), their followings both ways with the other end (4).
MEMBERS_QUERIES = 7


@pytest.fixture
def alice():
    return UserFactory(username="alice")


@pytest.fixture
def cold(monkeypatch):
    """Return a function that makes a client's next request start cold."""

    def prepare(client) -> None:
        client("{ me { id } }")  # The first request also records when the token was last used.
        # Resolved snapshots are kept in the process: forget them, to count their reads.
        monkeypatch.setattr(
            results, "_cache", results._ResolutionCache(results.CACHE_SIZE, results.CACHE_MEMBERS)
        )

    return prepare


def voted_decision(community: Community, voter) -> None:
    decision = DecisionFactory(community=community)
    BallotFactory(decision=decision, membership=voter, stars={"Yes": 5})
    decision_calculate(decision.pk)


@pytest.mark.parametrize("size", [1, 10])
def test_a_page_of_communities_with_their_decisions(
    graphql_as, alice, size, cold, django_assert_num_queries
):
    for _ in range(size):
        mine = MembershipFactory(user=alice)
        MembershipFactory(community=mine.community)
        voted_decision(mine.community, mine)
    client = graphql_as(alice)
    cold(client)
    with django_assert_num_queries(COMMUNITIES_QUERIES):
        edges = client(COMMUNITIES).data["communities"]["edges"]
    assert len(edges) == size
    assert all(e["node"]["decisions"]["edges"][0]["node"]["results"] for e in edges)


@pytest.mark.parametrize("size", [1, 10])
def test_a_page_of_decisions_with_results_and_calculation(
    graphql_as, alice, size, cold, django_assert_num_queries
):
    mine = MembershipFactory(user=alice)
    follower = MembershipFactory(community=mine.community)
    FollowingFactory(follower=follower, followee=mine)
    for _ in range(size):
        voted_decision(mine.community, mine)
    client = graphql_as(alice)
    cold(client)
    with django_assert_num_queries(DECISIONS_QUERIES):
        data = client(DECISIONS, id=gid(mine.community)).data
    assert data["community"]["decisions"]["totalCount"] == size


@pytest.mark.parametrize("size", [1, 10])
def test_a_page_of_members_with_their_followings(
    graphql_as, alice, size, cold, django_assert_num_queries
):
    mine = MembershipFactory(user=alice)
    for _ in range(size):
        FollowingFactory(follower=MembershipFactory(community=mine.community), followee=mine)
    client = graphql_as(alice)
    cold(client)
    with django_assert_num_queries(MEMBERS_QUERIES):
        data = client(MEMBERS, id=gid(mine.community)).data
    assert len(data["community"]["members"]["edges"]) == size + 1
