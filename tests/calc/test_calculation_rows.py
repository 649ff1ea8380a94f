"""The worker's hand-written statements around the decision's row (calc.calculation_rows)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from calc.calculation_rows import generation_completed, queued_absorb, queued_start
from calc.models import Calculation, CalculationStatus
from democracy.models import Decision
from tests.factories import DecisionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def decision() -> Decision:
    return DecisionFactory(choices=["Park", "Pool"])


def test_a_start_takes_the_queued_calculation_with_the_decisions_failure_count(decision):
    Decision.objects.filter(pk=decision.pk).update(calc_failures=2)
    other = Calculation.objects.create(decision=decision, trigger="done", status="COMPLETED")
    queued = Calculation.objects.create(decision=decision, trigger="ballot", change_count=3)
    now = timezone.now()

    started = queued_start(decision.pk, "worker-1", now)

    assert started is not None
    assert started.pk == queued.pk
    assert (started.status, started.worker, started.retry_count) == ("CREATING", "worker-1", 2)
    assert (started.started_at, started.trigger, started.change_count) == (now, "ballot", 3)
    assert Calculation.objects.get(pk=queued.pk).status == CalculationStatus.CREATING
    assert Calculation.objects.get(pk=other.pk).status == CalculationStatus.COMPLETED
    # Nothing is left to take.
    assert queued_start(decision.pk, "worker-1", now) is None


def test_a_completed_generation_advances_and_clears_the_failures(decision):
    retry_at = timezone.now() + timedelta(minutes=5)
    Decision.objects.filter(pk=decision.pk).update(
        calc_completed_gen=4, calc_failures=2, calc_retry_at=retry_at, calc_kept_by="old"
    )

    generation_completed(decision.pk, 7, "calc.worker!abc")

    stored = Decision.objects.get(pk=decision.pk)
    assert (stored.calc_completed_gen, stored.calc_failures, stored.calc_retry_at) == (7, 0, None)
    assert stored.calc_kept_by == "calc.worker!abc"


def test_an_older_generation_never_moves_the_completed_one_back(decision):
    retry_at = timezone.now() + timedelta(minutes=5)
    Decision.objects.filter(pk=decision.pk).update(
        calc_completed_gen=9, calc_failures=2, calc_retry_at=retry_at, calc_kept_by="old"
    )

    generation_completed(decision.pk, 7, "")

    stored = Decision.objects.get(pk=decision.pk)
    assert (stored.calc_completed_gen, stored.calc_failures) == (9, 2)
    assert stored.calc_retry_at == retry_at
    assert stored.calc_kept_by == ""  # The keeper is always this completion's.


def test_absorbing_marks_the_queued_calculation_covered_by_the_completed_one(decision):
    completed = Calculation.objects.create(
        decision=decision,
        trigger="ballot",
        status=CalculationStatus.COMPLETED,
        generation=5,
        content_hash="abc",
        finished_at=timezone.now(),
    )
    assert queued_absorb(completed) is None  # Nothing queued.
    queued = Calculation.objects.create(decision=decision, trigger="follow", change_count=2)

    absorbed = queued_absorb(completed)

    assert absorbed is not None
    assert absorbed.pk == queued.pk
    stored = Calculation.objects.get(pk=queued.pk)
    assert (stored.status, stored.absorbed_by_id) == ("ABSORBED", completed.pk)
    assert (stored.generation, stored.content_hash) == (5, "abc")
    assert stored.finished_at == completed.finished_at
    assert (absorbed.status, absorbed.generation) == (stored.status, stored.generation)
