"""Resolutions of several calculations (a page of results) are read in one query."""

from __future__ import annotations

import pytest

from calc import results
from calc.models import Calculation
from calc.services import decision_calculate
from tests.factories import BallotFactory, DecisionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_calculations(monkeypatch):
    for _ in range(2):
        ballot = BallotFactory(stars={"Yes": 4})
        decision_calculate(ballot.decision_id)
    monkeypatch.setattr(results, "_cache", results._ResolutionCache(results.CACHE_SIZE))
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
