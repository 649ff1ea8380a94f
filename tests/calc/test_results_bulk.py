"""Resolutions of several calculations (a page of results) are read in one query."""

from __future__ import annotations

import pytest

from calc import results
from calc.engine import resolve_ballots
from calc.engine.columns import decision_columns
from calc.models import Calculation
from calc.services import decision_calculate
from devtools.bench import generate
from tests.factories import BallotFactory, DecisionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_calculations(monkeypatch):
    for _ in range(2):
        ballot = BallotFactory(stars={"Yes": 4})
        decision_calculate(ballot.decision_id)
    monkeypatch.setattr(
        results, "_cache", results._ResolutionCache(results.CACHE_SIZE, results.CACHE_MEMBERS)
    )
    return list(Calculation.objects.order_by("id"))


def test_resolutions_of_several_read_their_snapshots_at_once(
    two_calculations, django_assert_num_queries
):
    with django_assert_num_queries(1):
        resolutions = results.resolutions_of(two_calculations)
    for calculation in two_calculations:
        page = results.ballots_page_of(resolutions[calculation.pk], 0, 10)
        assert page == results.ballots_page(calculation, 0, 10)
    with django_assert_num_queries(0):
        results.resolutions_of(two_calculations)  # Now kept.


def test_a_calculation_without_snapshot_is_an_error(two_calculations):
    queued = Calculation.objects.create(decision=DecisionFactory(), trigger="test")
    with pytest.raises(ValueError, match="has no snapshot yet"):
        results.resolutions_of([queued])


def test_kept_resolutions_are_bounded_by_members_the_newest_always_kept():
    def resolution(members: int) -> results.Resolution:
        columns = decision_columns(generate(members, 2, seed=members))
        return results.Resolution(columns, resolve_ballots(columns))

    cache = results._ResolutionCache(size=8, members=100)
    for key, members in (("a", 30), ("b", 40), ("c", 20)):
        cache.put(key, resolution(members))
    assert list(cache.entries) == ["a", "b", "c"]  # 90 members
    cache.put("d", resolution(30))
    assert list(cache.entries) == ["b", "c", "d"]  # the oldest went: 90 left
    cache.put("e", resolution(150))
    assert list(cache.entries) == ["e"]  # more than the bound alone, but the newest
    cache.put("", resolution(5))  # no content hash yet: nothing names it
    assert list(cache.entries) == ["e"]
