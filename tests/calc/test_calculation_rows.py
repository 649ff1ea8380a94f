"""The worker's hand-written statements around the decision's row (calc.calculation_rows)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calc.calculation_rows import (
    calculation_due,
    decisions_due_at,
    generation_completed,
    generation_stamped,
    queued_absorb,
    queued_start,
)
from calc.models import Calculation, CalculationStatus, Change, ChangeKind
from democracy.models import Decision, DecisionStatus
from democracy.services.ballots import StarsSpec, ballot_cast
from tests.calc.conftest import log_analyzed, rows_read_from_the_log
from tests.concurrency import require_postgres
from tests.factories import DecisionFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def decision() -> Decision:
    return DecisionFactory(choices=["Park", "Pool"])


def calculated(decision: Decision, generation: int = 3, **fields: object) -> Decision:
    """Leave ``decision`` with its log stamped and ``generation`` calculated, then ``fields``."""
    Change.objects.filter(decision=decision).update(generation=generation)
    stored = {"calc_requested_gen": generation, "calc_completed_gen": generation, **fields}
    Decision.objects.filter(pk=decision.pk).update(**stored)
    return decision


def due(decision: Decision, now: datetime | None = None) -> bool:
    with CaptureQueriesContext(connection) as captured:
        answer = calculation_due(decision.pk, now or timezone.now())
    assert len(captured.captured_queries) == 1
    return answer


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


def test_a_stamp_gives_the_changes_waiting_the_next_generation_and_counts_them(decision):
    Decision.objects.filter(pk=decision.pk).update(
        calc_requested_gen=4, calc_failures=2, calc_retry_at=timezone.now()
    )
    Change.objects.filter(decision=decision).update(generation=4)  # stamped before
    waiting = [Change.objects.create(decision=decision, kind=ChangeKind.WHOLE) for _ in range(3)]
    running = Calculation.objects.create(decision=decision, trigger="t", status="CREATING")

    assert generation_stamped(decision.pk, running) == 5
    assert running.change_count == 3
    assert Calculation.objects.get(pk=running.pk).change_count == 3
    assert {Change.objects.get(pk=c.pk).generation for c in waiting} == {5}
    stamped = Decision.objects.get(pk=decision.pk)
    assert (stamped.calc_requested_gen, stamped.calc_failures, stamped.calc_retry_at) == (
        5,
        0,
        None,
    )
    # Nothing waits now: the generation stays, and so do the calculation's count and the
    # failure count.
    Decision.objects.filter(pk=decision.pk).update(calc_failures=1)
    assert generation_stamped(decision.pk, running) == 5
    assert Calculation.objects.get(pk=running.pk).change_count == 3
    assert Decision.objects.get(pk=decision.pk).calc_failures == 1


def test_a_stamp_reads_the_waiting_changes_not_the_decisions_whole_log(decision):
    require_postgres()
    generation_stamped(decision.pk)  # what the factories logged
    log_analyzed()
    for _ in range(6):  # past the fifth run, where a prepared statement settles on a plan
        Change.objects.create(decision=decision, kind=ChangeKind.WHOLE)
        generation_stamped(decision.pk)
    Change.objects.bulk_create(
        Change(decision=decision, generation=1, kind=ChangeKind.WHOLE) for _ in range(3000)
    )
    Change.objects.create(decision=decision, kind=ChangeKind.WHOLE)

    before = rows_read_from_the_log()
    generation = generation_stamped(decision.pk)

    assert Change.objects.filter(decision=decision, generation=generation).count() == 1
    assert rows_read_from_the_log() - before < 10


@pytest.mark.django_db(transaction=True)
def test_a_stamp_waits_for_a_change_in_flight_and_stamps_it(decision):
    """A ballot past its log statement holds the decision's row in key-share mode until it
    commits; the stamp, which locks it for update, waits and then includes it."""
    require_postgres()
    member = MembershipFactory(community=decision.community)
    park = decision.choices.get(title="Park")
    generation_stamped(decision.pk)  # what the factories logged
    logged, stamping = threading.Event(), threading.Event()

    def cast_then_linger() -> None:
        try:
            with transaction.atomic():
                ballot_cast(user=member.user, decision=decision, stars=[StarsSpec(park.pk, 3)])
                logged.set()
                assert stamping.wait(10)
                time.sleep(0.3)  # the stamp is waiting for this transaction meanwhile
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        casting = pool.submit(cast_then_linger)
        assert logged.wait(10)
        before = Decision.objects.get(pk=decision.pk).calc_requested_gen
        stamping.set()
        generation = generation_stamped(decision.pk)
        casting.result(timeout=30)
    assert generation == before + 1
    ballot = Change.objects.get(decision=decision, kind=ChangeKind.BALLOT, member_id=member.pk)
    assert ballot.generation == generation


def test_a_decision_is_due_for_a_generation_requested_or_a_change_logged(decision):
    calculated(decision)
    assert not due(decision)

    Decision.objects.filter(pk=decision.pk).update(calc_requested_gen=4)
    assert due(decision)  # requested, not calculated yet

    calculated(decision, 4)
    Change.objects.create(decision=decision, kind=ChangeKind.WHOLE)
    assert due(decision)  # logged, not stamped yet


def test_a_failed_decision_waits_for_its_retry_time_unless_a_change_arrives(decision):
    now = timezone.now()
    retry_at = now + timedelta(seconds=30)
    calculated(decision, calc_requested_gen=4, calc_failures=1, calc_retry_at=retry_at)
    assert not due(decision, now)
    assert due(decision, now + timedelta(seconds=30))  # its time has come

    Change.objects.create(decision=decision, kind=ChangeKind.WHOLE)
    assert due(decision, now)  # a new change ends the wait


@pytest.mark.parametrize("status", [DecisionStatus.CLOSED, DecisionStatus.DRAFT])
def test_a_closed_decision_is_still_calculated_and_a_draft_never(decision, status):
    calculated(decision, status=status)
    Change.objects.create(decision=decision, kind=ChangeKind.WHOLE)
    assert due(decision) == (status == DecisionStatus.CLOSED)
    calculated(decision, calc_requested_gen=4)
    assert due(decision) == (status == DecisionStatus.CLOSED)


def test_the_sweeper_lists_the_live_decisions_due_whose_lease_is_free():
    now = timezone.now()
    ahead, past = now + timedelta(seconds=30), now - timedelta(seconds=1)
    behind = {"calc_requested_gen": 4}

    def made(waiting: bool = False, **fields: object) -> int:
        decision = calculated(DecisionFactory(), **fields)
        if waiting:
            Change.objects.create(decision=decision, kind=ChangeKind.WHOLE)
        return decision.pk

    listed = [
        made(**behind),
        made(waiting=True, calc_lease_owner="dead", calc_lease_until=past),
        made(waiting=True, calc_failures=3),  # a new change retries past the limit
        made(**behind, calc_failures=2, calc_retry_at=now),
        made(waiting=True, status=DecisionStatus.CLOSED),
    ]
    made()  # nothing to do
    made(waiting=True, calc_lease_owner="live", calc_lease_until=ahead)
    made(**behind, calc_failures=3)
    made(**behind, calc_failures=1, calc_retry_at=ahead)
    made(waiting=True, status=DecisionStatus.DRAFT)

    with CaptureQueriesContext(connection) as captured:
        assert decisions_due_at(now, 3) == sorted(listed)
    assert len(captured.captured_queries) == 1
