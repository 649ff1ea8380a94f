"""GRAPHQL_MAX_PAGE_SIZE is the largest page of every connection: more is refused."""

from __future__ import annotations

import pytest
from django.conf import settings

from calc.services import decision_calculate
from schema.schema import schema
from tests.factories import (
    BallotFactory,
    CommunityFactory,
    DecisionFactory,
    MembershipFactory,
)
from tests.schema.conftest import gid

pytestmark = pytest.mark.django_db

COMMUNITIES = """query($first: Int) { communities(first: $first) {
  totalCount pageInfo { hasNextPage } edges { node { name } } } }"""
BALLOTS = """query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  decision(id: $id) { results { ballots(first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { membership { displayName } } } } } } }"""
NESTED = {
    "members": "query($id: ID!) { community(id: $id) { members(first: 6) { totalCount } } }",
    "decisions": "query($id: ID!) { community(id: $id) { decisions(last: 6) { totalCount } } }",
    "nested decisions": "{ communities(first: 1) { edges { node { decisions(first: 6) {"
    " totalCount } } } } }",
}


@pytest.fixture
def max_five(monkeypatch):
    monkeypatch.setattr(schema.config, "relay_max_results", 5)


def test_the_largest_page_is_the_setting():
    assert schema.config.relay_max_results == settings.GRAPHQL_MAX_PAGE_SIZE


def test_communities_beyond_the_largest_page_are_refused(graphql_as, max_five):
    for n in range(12):
        CommunityFactory(name=f"C{n:02}")
    client = graphql_as(None)
    refused = client(COMMUNITIES, first=50).body
    assert refused["data"] is None
    assert refused["errors"][0]["message"] == "Argument 'first' cannot be higher than 5."
    page = client(COMMUNITIES).data["communities"]
    assert len(page["edges"]) == 5  # No `first`: the largest page.
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["totalCount"] == 12
    assert len(client(COMMUNITIES, first=5).data["communities"]["edges"]) == 5


@pytest.mark.parametrize("name", NESTED)
def test_every_connection_refuses_more_than_the_largest_page(graphql_as, user, max_five, name):
    membership = MembershipFactory(user=user)
    body = graphql_as(user)(NESTED[name], id=gid(membership.community)).body
    assert "cannot be higher than 5" in body["errors"][0]["message"]


@pytest.fixture
def seven_ballots(user):
    membership = MembershipFactory(user=user)
    decision = DecisionFactory(community=membership.community)
    BallotFactory(decision=decision, membership=membership, stars={"Yes": 1})
    for _ in range(6):
        BallotFactory(decision=decision, stars={"Yes": 5})
    decision_calculate(decision.pk)
    return decision


def ballots(client, decision, **arguments):
    response = client(BALLOTS, id=gid(decision), **arguments)
    return response.data["decision"]["results"]["ballots"]


def test_ballots_refuse_more_than_the_largest_page(graphql_as, user, seven_ballots, max_five):
    client = graphql_as(user)
    for argument in ("first", "last"):
        body = client(BALLOTS, id=gid(seven_ballots), **{argument: 6}).body
        message = f"Argument '{argument}' cannot be higher than 5."
        assert body["errors"][0]["message"] == message
    page = ballots(client, seven_ballots)
    assert len(page["edges"]) == 5
    assert page["pageInfo"]["hasNextPage"] is True


def test_ballots_page_backwards_with_last_and_before(graphql_as, user, seven_ballots):
    client = graphql_as(user)
    everyone = [e["cursor"] for e in ballots(client, seven_ballots)["edges"]]
    assert len(everyone) == 7
    tail = ballots(client, seven_ballots, last=2)
    assert [e["cursor"] for e in tail["edges"]] == everyone[-2:]
    assert tail["pageInfo"]["hasPreviousPage"] is True
    assert tail["pageInfo"]["hasNextPage"] is False
    before = ballots(client, seven_ballots, last=3, before=tail["pageInfo"]["startCursor"])
    assert [e["cursor"] for e in before["edges"]] == everyone[2:5]
    head = ballots(client, seven_ballots, last=5, before=everyone[2])
    assert [e["cursor"] for e in head["edges"]] == everyone[:2]
    assert head["pageInfo"]["hasPreviousPage"] is False
    middle = ballots(client, seven_ballots, first=2, after=everyone[1])
    assert [e["cursor"] for e in middle["edges"]] == everyone[2:4]
