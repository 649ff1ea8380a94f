"""Decision.resultsHistory and Decision.results(at:): a decision's results over time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from calc.models import Calculation
from calc.services import decision_calculate
from tests.factories import BallotFactory, DecisionFactory, MembershipFactory
from tests.schema.conftest import gid

pytestmark = pytest.mark.django_db

HISTORY = """query($id: ID!, $first: Int, $after: String) { decision(id: $id) {
  resultsHistory(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { calculationId calculatedAt trigger isFinal winner { title }
      tiedChoices { title } countedBallots scores { choice { title } averageStars } } } } } }"""
AT = """query($id: ID!, $at: DateTime) { decision(id: $id) {
  results(at: $at) { calculationId winner { title } participation { countedBallots } } } }"""


@pytest.fixture
def three_results():
    """Three completed results: park leads, then road, then a tie broken for road or park."""
    ann = MembershipFactory()
    community = ann.community
    decision = DecisionFactory(community=community, choices=["park", "road"])
    calculations = []
    BallotFactory(decision=decision, membership=ann, stars={"park": 4, "road": 1})
    calculations += decision_calculate(decision.pk)
    ben = MembershipFactory(community=community)
    BallotFactory(decision=decision, membership=ben, stars={"road": 5})
    calculations += decision_calculate(decision.pk)
    cat = MembershipFactory(community=community)
    BallotFactory(decision=decision, membership=cat, stars={"road": 5, "park": 1})
    calculations += decision_calculate(decision.pk)
    assert [c.status for c in calculations] == ["COMPLETED"] * 3
    return ann, decision, calculations


def test_history_lists_completed_results_newest_first(graphql_as, three_results):
    ann, decision, _ = three_results
    data = graphql_as(ann.user)(HISTORY, id=gid(decision)).data["decision"]["resultsHistory"]
    assert data["totalCount"] == 3
    assert data["pageInfo"]["hasNextPage"] is False
    nodes = [e["node"] for e in data["edges"]]
    assert [n["countedBallots"] for n in nodes] == [3, 2, 1]
    assert nodes[2]["winner"] == {"title": "park"}
    assert nodes[0]["winner"] == {"title": "road"}
    assert nodes[2]["scores"] == [
        {"choice": {"title": "park"}, "averageStars": "4.00000000"},
        {"choice": {"title": "road"}, "averageStars": "1.00000000"},
    ]
    assert nodes[0]["scores"][1] == {"choice": {"title": "road"}, "averageStars": "3.66666667"}
    assert all(n["trigger"] and n["isFinal"] is False for n in nodes)
    times = [n["calculatedAt"] for n in nodes]
    assert times == sorted(times, reverse=True)


def test_history_pages_with_cursors_and_skips_unfinished_calculations(graphql_as, three_results):
    ann, decision, _ = three_results
    Calculation.objects.create(decision=decision, trigger="queued, not yet run")
    client = graphql_as(ann.user)
    first = client(HISTORY, id=gid(decision), first=2).data["decision"]["resultsHistory"]
    assert len(first["edges"]) == 2
    assert first["totalCount"] == 3
    assert first["pageInfo"]["hasNextPage"] is True
    after = first["pageInfo"]["endCursor"]
    rest = client(HISTORY, id=gid(decision), first=2, after=after).data["decision"]
    page = rest["resultsHistory"]
    assert [e["node"]["countedBallots"] for e in page["edges"]] == [1]
    assert page["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "endCursor": page["edges"][0]["cursor"],
    }


def test_history_refuses_a_page_beyond_the_page_size_and_a_foreign_cursor(
    graphql_as, three_results, settings
):
    ann, decision, _ = three_results
    settings.GRAPHQL_MAX_PAGE_SIZE = 2
    client = graphql_as(ann.user)
    default = client(HISTORY, id=gid(decision)).data["decision"]["resultsHistory"]
    assert len(default["edges"]) == 2  # The page size is the default, too.

    def refusal(**arguments):
        answer = client(HISTORY, id=gid(decision), **arguments).body
        assert answer["data"]["decision"] is None  # Like every connection's limit.
        return answer["errors"][0]["message"]

    assert refusal(first=3) == "Argument 'first' cannot be higher than 2."
    assert refusal(first=-1) == "Argument 'first' must be a non-negative integer."
    assert refusal(after=gid(decision)) == "Argument 'after' contains a non-existing value."


def test_a_history_page_costs_the_same_queries_whatever_its_size(
    graphql_as, three_results, django_assert_num_queries
):
    ann, decision, _ = three_results
    client = graphql_as(ann.user)
    client(HISTORY, id=gid(decision), first=1)  # Caches warmed: only this page's reads count.
    # The token (with its user), the decision, then the page, the choices and the count.
    with django_assert_num_queries(5):
        one = client(HISTORY, id=gid(decision), first=1).data
    with django_assert_num_queries(5):
        three = client(HISTORY, id=gid(decision), first=3).data
    assert len(one["decision"]["resultsHistory"]["edges"]) == 1
    assert len(three["decision"]["resultsHistory"]["edges"]) == 3


def test_results_at_gives_the_result_in_force_at_that_moment(graphql_as, three_results):
    ann, decision, calculations = three_results
    client = graphql_as(ann.user)
    first, second, third = calculations
    assert None not in (first.finished_at, second.finished_at, third.finished_at)

    def at(moment):
        return client(AT, id=gid(decision), at=moment.isoformat()).data["decision"]["results"]

    assert at(first.finished_at - timedelta(seconds=1)) is None
    assert at(first.finished_at)["participation"]["countedBallots"] == 1
    between = second.finished_at + (third.finished_at - second.finished_at) / 2
    assert at(between)["participation"]["countedBallots"] == 2
    assert at(third.finished_at + timedelta(days=1))["winner"] == {"title": "road"}
    current = client(AT, id=gid(decision), at=None).data["decision"]["results"]
    assert current["participation"]["countedBallots"] == 3


def test_results_at_a_moment_without_a_time_zone_is_refused(graphql_as, three_results):
    ann, decision, _ = three_results
    answer = graphql_as(ann.user)(AT, id=gid(decision), at="2026-05-01T12:00:00")
    assert answer.error_codes == ["INVALID"]
    error = answer.body["errors"][0]
    assert error["extensions"]["field"] == "at"
    assert "time zone" in error["message"]


def test_history_of_a_decision_one_may_not_see_is_not_given(graphql_as, three_results):
    _, decision, _ = three_results
    stranger = MembershipFactory()
    answer = graphql_as(stranger.user)(HISTORY, id=gid(decision)).data
    assert answer["decision"] is None
