"""Decision.results, calculation, snapshots, explanation and a delegated myBallot."""

from __future__ import annotations

from decimal import Decimal

import pytest

from calc.models import Calculation
from calc.services import decision_calculate
from democracy.models import DecisionStatus, Role
from democracy.pseudonyms import pseudonym
from tests.factories import (
    BallotFactory,
    DecisionFactory,
    FollowingFactory,
    MembershipFactory,
    UserFactory,
)
from tests.schema.conftest import gid

pytestmark = pytest.mark.django_db

RESULTS = """query($id: ID!) { decision(id: $id) {
  results { isFinal winner { title } tiedChoices { title } finalists { title }
    scores { choice { title } totalStars averageStars fiveStarCount }
    runoff { first { title } second { title } preferFirst preferSecond noPreference }
    tiebreaks tieBreakProtocol
    participation { members voters directBallots delegatedBallots abstentions countedBallots }
    ballots(first: 2) { totalCount pageInfo { hasNextPage endCursor }
      edges { node { membership { displayName } isDelegated tags stars { choice { title } stars } } } } }
  calculation { status isFinal trigger contentHash durationMs error retryCount }
  snapshots { totalCount edges { node { status } } }
} }"""
PAGE = """query($id: ID!, $after: String) { decision(id: $id) { results {
  ballots(first: 2, after: $after) { edges { node { membership { displayName } } }
    pageInfo { hasNextPage endCursor } } } } }"""
EXPLAIN = """query($id: ID!, $m: ID!) { decision(id: $id) { explanation(membershipId: $m) {
  membership { displayName } isDelegated tags stars { choice { title } stars }
  sources { delegate { displayName } matchedTags weight order isCycle stars { stars }
    explanation { membership { displayName } isDelegated sources { delegate { displayName } } } } } } }"""
MY_BALLOT = """query($id: ID!) { decision(id: $id) { myBallot { isDelegated tags stars { choice { title } stars } } } }"""
RECALCULATE = """mutation($id: ID!) { recalculateDecision(decisionId: $id) {
  calculation { status trigger } calculations { status } errors { code field } } }"""


@pytest.fixture
def worked_example():
    """docs/voting-rules.md example 1, with Ann anonymous."""
    ann = MembershipFactory(user=UserFactory(username="ann"), is_anonymous=True, is_manager=True)
    community = ann.community
    eve = MembershipFactory(
        user=UserFactory(username="eve"), community=community, role=Role.LOBBYIST
    )
    names = {}
    for name in ("ben", "cat", "dan", "fay"):
        names[name] = MembershipFactory(user=UserFactory(username=name), community=community)
    decision = DecisionFactory(community=community, choices=["park", "road"])
    BallotFactory(decision=decision, membership=ann, stars={"park": 5, "road": 1}, tags=["budget"])
    BallotFactory(
        decision=decision, membership=eve, stars={"park": 2, "road": 4}, tags=["budget", "parks"]
    )
    FollowingFactory(follower=names["ben"], followee=ann, tags=["budget"])
    FollowingFactory(follower=names["ben"], followee=eve, tags=[], order=2)
    FollowingFactory(follower=names["cat"], followee=names["ben"], tags=["budget"])
    FollowingFactory(follower=names["dan"], followee=names["ben"], tags=["schools"])
    FollowingFactory(follower=names["fay"], followee=names["cat"], tags=[])
    (calculation,) = decision_calculate(decision.pk)
    assert calculation.status == "COMPLETED"
    return decision, ann, eve, names


def test_results_reproduce_worked_example_one(graphql_as, worked_example):
    decision, _, _, names = worked_example
    data = graphql_as(names["ben"].user)(RESULTS, id=gid(decision)).data["decision"]
    results = data["results"]
    assert results["winner"] == {"title": "park"}
    assert results["finalists"] == [{"title": "park"}, {"title": "road"}]
    assert results["scores"] == [
        {
            "choice": {"title": "park"},
            "totalStars": "15.50000000",
            "averageStars": "3.87500000",
            "fiveStarCount": 1,
        },
        {
            "choice": {"title": "road"},
            "totalStars": "8.50000000",
            "averageStars": "2.12500000",
            "fiveStarCount": 0,
        },
    ]
    assert results["runoff"] == {
        "first": {"title": "park"},
        "second": {"title": "road"},
        "preferFirst": 4,
        "preferSecond": 0,
        "noPreference": 0,
    }
    assert results["participation"] == {
        "members": 6,
        "voters": 5,
        "directBallots": 2,
        "delegatedBallots": 3,
        "abstentions": 1,
        "countedBallots": 4,
    }
    assert "STAR" in results["tieBreakProtocol"]
    assert results["isFinal"] is False
    assert data["calculation"]["status"] == "COMPLETED"
    assert len(data["calculation"]["contentHash"]) == 64
    assert data["calculation"]["error"] is None
    assert data["snapshots"]["totalCount"] == 1


def test_result_ballots_page_and_hide_anonymous_names(graphql_as, worked_example):
    decision, _, _, names = worked_example
    client = graphql_as(names["ben"].user)
    first = client(RESULTS, id=gid(decision)).data["decision"]["results"]["ballots"]
    assert first["totalCount"] == 5  # Ann, Eve (lobbyist, not counted), Ben, Cat, Fay.
    assert first["pageInfo"]["hasNextPage"] is True
    seen = [e["node"]["membership"]["displayName"] for e in first["edges"]]
    page = first
    while page["pageInfo"]["hasNextPage"]:
        after = page["pageInfo"]["endCursor"]
        page = client(PAGE, id=gid(decision), after=after).data["decision"]["results"]["ballots"]
        seen += [e["node"]["membership"]["displayName"] for e in page["edges"]]
    assert len(seen) == 5
    assert "ann" not in seen
    assert {"eve", "ben", "cat", "fay"} <= set(seen)


def test_explanation_walks_the_delegation_tree(graphql_as, worked_example):
    decision, _, _, names = worked_example
    explanation = graphql_as(names["fay"].user)(
        EXPLAIN, id=gid(decision), m=gid(names["fay"])
    ).data["decision"]["explanation"]
    assert explanation["isDelegated"] is True
    assert explanation["tags"] == ["budget"]
    assert [s["stars"] for s in explanation["stars"]] == ["3.50000000", "2.50000000"]
    (via_cat,) = explanation["sources"]
    assert via_cat["delegate"] == {"displayName": "cat"}
    assert via_cat["weight"] == "1.00000000"
    assert via_cat["explanation"]["sources"] == [{"delegate": {"displayName": "ben"}}]


def test_explanation_depth_can_be_bounded_and_a_bad_id_finds_nothing(graphql_as, worked_example):
    decision, _, _, names = worked_example
    client = graphql_as(names["fay"].user)
    shallow = client(
        """query($id: ID!, $m: ID!) { decision(id: $id) { explanation(membershipId: $m, maxDepth: 1) {
        sources { delegate { displayName } explanation { isDelegated } } } } }""",
        id=gid(decision),
        m=gid(names["fay"]),
    ).data["decision"]["explanation"]
    assert shallow["sources"] == [{"delegate": {"displayName": "cat"}, "explanation": None}]
    bad = client(EXPLAIN, id=gid(decision), m="not-an-id").data["decision"]["explanation"]
    assert bad is None


def test_explanation_of_an_abstainer_is_null(graphql_as, worked_example):
    decision, _, _, names = worked_example
    data = graphql_as(names["dan"].user)(EXPLAIN, id=gid(decision), m=gid(names["dan"])).data
    assert data["decision"]["explanation"] is None


def test_my_ballot_shows_a_delegated_ballot(graphql_as, worked_example):
    decision, _, _, names = worked_example
    mine = graphql_as(names["ben"].user)(MY_BALLOT, id=gid(decision)).data["decision"]["myBallot"]
    assert mine == {
        "isDelegated": True,
        "tags": ["budget", "parks"],
        "stars": [
            {"choice": {"title": "park"}, "stars": "3.50000000"},
            {"choice": {"title": "road"}, "stars": "2.50000000"},
        ],
    }
    nobody = graphql_as(names["dan"].user)(MY_BALLOT, id=gid(decision)).data
    assert nobody["decision"]["myBallot"] is None


def test_results_of_a_private_community_are_hidden_from_outsiders(graphql_as, worked_example):
    decision, *_ = worked_example
    outsider = MembershipFactory().user
    assert graphql_as(outsider)(RESULTS, id=gid(decision)).data == {"decision": None}


def test_manager_recalculates_and_gets_the_queued_calculation(graphql_as, worked_example):
    decision, ann, _, names = worked_example
    payload = graphql_as(ann.user)(RECALCULATE, id=gid(decision)).data["recalculateDecision"]
    assert payload["errors"] == []
    assert payload["calculation"]["status"] == "QUEUED"
    assert payload["calculation"]["trigger"].startswith("Recalculation requested by ")
    assert "ann" not in payload["calculation"]["trigger"]
    assert payload["calculations"] == [{"status": "QUEUED"}]
    refused = graphql_as(names["ben"].user)(RECALCULATE, id=gid(decision))
    assert refused.error_codes == ["FORBIDDEN"]


def test_recalculating_a_draft_is_refused(graphql_as, user):
    manager = MembershipFactory(user=user, is_manager=True)
    draft = DecisionFactory(community=manager.community, status=DecisionStatus.DRAFT)
    payload = graphql_as(user)(RECALCULATE, id=gid(draft)).data["recalculateDecision"]
    assert payload["errors"] == [{"code": "DECISION_NOT_OPEN", "field": "decisionId"}]


def test_closing_gives_one_final_result_that_cannot_be_recalculated(graphql_as, worked_example):
    decision, ann, _, _ = worked_example
    client = graphql_as(ann.user)
    closed = client(
        """mutation($id: ID!) { closeDecision(decisionId: $id) {
        decision { status } calculations { status } } }""",
        id=gid(decision),
    ).data
    assert closed["closeDecision"] == {
        "decision": {"status": "CLOSED"},
        "calculations": [{"status": "QUEUED"}],
    }
    decision_calculate(decision.pk)
    results = client(RESULTS, id=gid(decision)).data["decision"]
    assert results["results"]["isFinal"] is True
    assert results["calculation"]["isFinal"] is True
    payload = client(RECALCULATE, id=gid(decision)).data["recalculateDecision"]
    assert payload["errors"] == [{"code": "DECISION_FINAL", "field": "decisionId"}]
    assert decision.calculations.filter(is_final=True).count() == 1


def test_my_ballot_after_retracting_is_not_the_stale_direct_one(graphql_as, worked_example):
    decision, _, eve, _ = worked_example
    client = graphql_as(eve.user)
    retracted = client(
        """mutation($id: ID!) { retractBallot(decisionId: $id) { ok } }""", id=gid(decision)
    ).data
    assert retracted == {"retractBallot": {"ok": True}}
    assert client(MY_BALLOT, id=gid(decision)).data["decision"]["myBallot"] is None


INFLUENCE = """query($id: ID!, $first: Int, $after: String) { decision(id: $id) { results {
  participation { countedBallots }
  influence(first: $first, after: $after) { totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor influence node { displayName role } } } } } }"""


def test_influence_ranks_direct_voters_with_anonymous_ones_by_pseudonym(graphql_as, worked_example):
    """Example 1: Ben averages Ann and Eve; Cat and Fay follow Ben. Counted: Ann, Ben, Cat,
    Fay. Ann: her own ballot and half of three others; Eve, a lobbyist: half of three only.
    """
    decision, ann, _, names = worked_example
    results = graphql_as(names["dan"].user)(INFLUENCE, id=gid(decision)).data["decision"]["results"]
    influence = results["influence"]
    assert influence["totalCount"] == 2
    assert [
        (e["node"]["displayName"], e["node"]["role"], e["influence"]) for e in influence["edges"]
    ] == [
        (pseudonym(ann.pk), "VOTER", "2.50000000"),
        ("eve", "LOBBYIST", "1.50000000"),
    ]
    assert sum(Decimal(e["influence"]) for e in influence["edges"]) == Decimal(
        results["participation"]["countedBallots"]
    )
    assert influence["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "endCursor": influence["edges"][-1]["cursor"],
    }


def test_influence_pages_highest_first(graphql_as, worked_example):
    decision, _, _, names = worked_example
    client = graphql_as(names["ben"].user)
    first = client(INFLUENCE, id=gid(decision), first=1).data["decision"]["results"]["influence"]
    assert [e["influence"] for e in first["edges"]] == ["2.50000000"]
    assert first["pageInfo"]["hasNextPage"] is True
    after = first["pageInfo"]["endCursor"]
    rest = client(INFLUENCE, id=gid(decision), first=1, after=after).data["decision"]["results"][
        "influence"
    ]
    assert [e["node"]["displayName"] for e in rest["edges"]] == ["eve"]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["pageInfo"]["hasPreviousPage"] is True


def test_influence_of_a_result_stored_before_it_is_null(graphql_as, worked_example):
    decision, _, _, names = worked_example
    calculation = Calculation.objects.get(decision=decision)
    del calculation.results["influence"]
    calculation.save(update_fields=["results"])
    results = graphql_as(names["ben"].user)(INFLUENCE, id=gid(decision)).data["decision"]["results"]
    assert results["influence"] is None
    assert results["participation"] == {"countedBallots": 4}
