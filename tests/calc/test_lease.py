"""The short lease: a heartbeat keeps a live worker's, a dead one's runs out, a late one is fenced."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import calc.calculation_input
import calc.services
from calc.calculation_rows import generation_stamped
from calc.models import Calculation, CalculationStatus, StoredSnapshot
from calc.queue import request_recalculation
from calc.services import (
    LeaseLost,
    calculations_fail_stuck,
    decision_calculate,
    decisions_due,
    lease_claim,
)
from democracy.models import Decision
from democracy.services.ballots import StarsSpec, ballot_cast
from tests.concurrency import require_postgres
from tests.factories import BallotFactory, DecisionFactory, MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def decision() -> Decision:
    decision = DecisionFactory(choices=["Park", "Road"])
    manager = MembershipFactory(community=decision.community, is_manager=True)
    BallotFactory(decision=decision, membership=manager, stars={"Park": 5, "Road": 1})
    BallotFactory(decision=decision, stars={"Park": 4, "Road": 2})
    return decision


def fresh(decision: Decision) -> Decision:
    return Decision.objects.get(pk=decision.pk)


def in_thread(work: Callable[[], Any]) -> Any:
    """Run ``work`` in a thread of its own, as a worker would, closing its connection after."""

    def run() -> Any:
        try:
            return work()
        finally:
            connection.close()

    return ThreadPoolExecutor(1).submit(run)


def hold(monkeypatch: pytest.MonkeyPatch, name: str) -> tuple[threading.Event, threading.Event]:
    """Make the first call of ``calc.services.<name>`` wait for a gate; return (reached, gate)."""
    original = getattr(calc.services, name)
    reached, gate = threading.Event(), threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        if not reached.is_set():
            reached.set()
            assert gate.wait(20)
        return original(*args, **kwargs)

    monkeypatch.setattr(calc.services, name, held)
    return reached, gate


def test_the_heartbeat_keeps_a_slow_calculation_s_lease(decision, settings, monkeypatch):
    settings.CALC_LEASE_SECONDS = 0.6
    settings.CALC_HEARTBEAT_SECONDS = 0.1
    reached, gate = hold(monkeypatch, "result_to_json")
    running = in_thread(lambda: decision_calculate(decision.pk, owner="slow-worker"))
    assert reached.wait(10)
    time.sleep(1.5)  # Well past the lease: only the heartbeat can have kept it.

    assert lease_claim(decision.pk, "other-worker") is None
    assert calculations_fail_stuck() == 0
    assert decisions_due() == []
    gate.set()
    [calculation] = running.result(timeout=20)
    assert calculation.status == CalculationStatus.COMPLETED
    assert fresh(decision).calc_lease_owner == ""


def test_a_dead_worker_s_calculation_is_failed_and_retried_at_once(decision, settings):
    settings.CALC_RETRY_BACKOFF_SECONDS = 60
    lease = lease_claim(decision.pk, "dead-worker")
    assert lease is not None
    dead = Calculation.objects.create(
        decision=decision,
        status=CalculationStatus.STAGING,
        trigger="t",
        started_at=timezone.now(),
        worker=lease.owner,
    )
    Decision.objects.filter(pk=decision.pk).update(
        calc_lease_until=timezone.now() - timedelta(seconds=1)
    )

    assert calculations_fail_stuck() == 1

    dead.refresh_from_db()
    assert dead.status == CalculationStatus.FAILED
    assert decisions_due() == [decision.pk]  # No 60 s backoff for the first abandonment.
    with pytest.raises(LeaseLost):
        lease.renew()  # Revoked: the dead worker, were it only slow, cannot come back.
    [calculation] = decision_calculate(decision.pk, owner="live-worker")
    assert calculation.status == CalculationStatus.COMPLETED


def test_a_second_abandonment_in_a_row_backs_off(decision, settings):
    settings.CALC_RETRY_BACKOFF_SECONDS = 60
    generation_stamped(decision.pk)  # the dead worker's, before it died
    Decision.objects.filter(pk=decision.pk).update(calc_failures=1)
    Calculation.objects.create(
        decision=decision,
        status=CalculationStatus.CREATING,
        trigger="t",
        started_at=timezone.now(),
        worker="dead-worker#1",
    )
    assert calculations_fail_stuck() == 1
    assert decisions_due() == []
    assert fresh(decision).calc_failures == 2


def test_a_worker_whose_lease_was_taken_over_cannot_store_its_late_result(
    decision, settings, monkeypatch
):
    # A worker frozen past its lease (a long pause, a stopped process): no heartbeat either.
    settings.CALC_HEARTBEAT_SECONDS = 60
    reached, gate = hold(monkeypatch, "_complete")
    late = in_thread(lambda: decision_calculate(decision.pk, owner="frozen-worker"))
    assert reached.wait(10)  # It has its result and passed its last renewal.
    frozen = Calculation.objects.get()
    assert frozen.status == CalculationStatus.TALLYING

    Decision.objects.filter(pk=decision.pk).update(
        calc_lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert calculations_fail_stuck() == 1
    voter = MembershipFactory(community=decision.community)
    ballot_cast(
        user=voter.user,
        decision=fresh(decision),
        stars=[StarsSpec(choice_id=c.pk, stars=3) for c in decision.choices.all()],
    )
    taken_over = in_thread(lambda: decision_calculate(decision.pk, owner="live-worker"))
    [newer] = taken_over.result(timeout=20)
    assert newer.status == CalculationStatus.COMPLETED

    gate.set()
    with pytest.raises(LeaseLost):
        late.result(timeout=20)

    frozen.refresh_from_db()
    assert frozen.status == CalculationStatus.FAILED
    assert frozen.results is None
    latest = Calculation.objects.filter(status=CalculationStatus.COMPLETED).get()
    assert latest.pk == newer.pk
    assert latest.results["participation"]["countedBallots"] == 3
    current = fresh(decision)
    assert current.calc_completed_gen == current.calc_requested_gen == newer.generation
    assert current.calc_failures == 0


def test_a_lost_lease_leaves_the_decision_s_retries_to_the_new_holder(decision, monkeypatch):
    original = calc.calculation_input.build_state

    def stolen(frozen: Any, **kwargs: Any) -> Any:
        Decision.objects.filter(pk=decision.pk).update(calc_lease_owner="thief")
        return original(frozen, **kwargs)

    monkeypatch.setattr(calc.calculation_input, "build_state", stolen)
    with pytest.raises(LeaseLost):
        decision_calculate(decision.pk)
    current = fresh(decision)
    assert (current.calc_failures, current.calc_retry_at) == (0, None)
    assert Calculation.objects.get().status == CalculationStatus.FAILED


def test_a_heartbeat_that_hits_a_database_error_logs_it_and_beats_again(
    decision, settings, monkeypatch, caplog
):
    settings.CALC_LEASE_SECONDS = 5
    settings.CALC_HEARTBEAT_SECONDS = 0.05
    lease = lease_claim(decision.pk, "worker")
    assert lease is not None
    claimed_until = fresh(decision).calc_lease_until
    renew = calc.services.Lease.renew
    calls: list[int] = []

    def hiccup_once(self: calc.services.Lease) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("database is locked")
        renew(self)

    monkeypatch.setattr(calc.services.Lease, "renew", hiccup_once)
    with calc.services.lease_heartbeat(lease):
        deadline = time.monotonic() + 10
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)

    assert len(calls) >= 3  # it went on after the error
    assert f"Lease heartbeat of decision {decision.pk} failed" in caplog.text
    assert fresh(decision).calc_lease_until > claimed_until
    assert fresh(decision).calc_lease_owner == lease.owner


STAMP = "EXECUTE crowdvote_stamp_lock_"


def test_a_calculation_checks_its_lease_between_stages_without_writing_the_decision(
    decision, settings
):
    """Ballots share-lock the decision's row: the start and the stages leave it alone (they
    read the lease), and only the claim, the stamp, the completion and the release write or
    lock it (the heartbeat renews it)."""
    settings.CALC_HEARTBEAT_SECONDS = 60  # no beat during the calculation
    written: list[str] = []

    def watch(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        locks = sql.endswith("FOR UPDATE") and sql.startswith('SELECT "id"')
        if sql.startswith(('UPDATE "democracy_decision"', STAMP)) or locks:
            written.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        [calculation] = decision_calculate(decision.pk, owner="worker")

    assert calculation.status == CalculationStatus.COMPLETED
    assert not [sql for sql in written if 'SET "calc_lease_until"' in sql]  # no renewal
    claim, *between, release = written
    assert 'SET "calc_lease_owner"' in claim
    assert 'SET "calc_lease_owner"' in release
    # The stamp and the completion each lock the row on PostgreSQL (SQLite's writer lock
    # stands in for row locks) and write it; the stamp, its lock included, in one message.
    stamp, *complete = between
    if connection.vendor == "postgresql":
        assert stamp.startswith(STAMP)
        assert stamp.count("; ") == 1  # the prepared lock, then the stamp as written
        lock, completed = complete
        assert lock.startswith('SELECT "id"')
    else:
        assert "SET calc_requested_gen = %s" in stamp
        (completed,) = complete
    assert "calc_completed_gen = CASE" in completed, between


def test_a_lease_check_refuses_a_lease_expired_or_taken_over(decision):
    lease = lease_claim(decision.pk, "worker")
    assert lease is not None
    lease.check()  # live

    Decision.objects.filter(pk=decision.pk).update(
        calc_lease_until=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(LeaseLost):
        lease.check()
    Decision.objects.filter(pk=decision.pk).update(
        calc_lease_owner="thief", calc_lease_until=timezone.now() + timedelta(seconds=30)
    )
    with pytest.raises(LeaseLost):
        lease.check()
    assert fresh(decision).calc_lease_owner == "thief"  # a check writes nothing


def sent_unprepared(captured: CaptureQueriesContext) -> list[str]:
    """The statements captured, but for the ``PREPARE`` each connection sends once."""
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("PREPARE")]


@pytest.mark.parametrize("lost", ["expired", "taken over"])
def test_a_status_change_checks_the_lease_in_its_one_statement(decision, lost):
    lease = lease_claim(decision.pk, "worker")
    assert lease is not None
    calculation = Calculation.objects.create(
        decision=decision, status=CalculationStatus.READY, trigger="t", worker=lease.owner
    )
    with CaptureQueriesContext(connection) as captured:
        calc.services._set_status(calculation, CalculationStatus.STAGING, lease)
    assert len(sent_unprepared(captured)) == 1
    assert Calculation.objects.get(pk=calculation.pk).status == CalculationStatus.STAGING

    if lost == "expired":
        until = timezone.now() - timedelta(seconds=1)
        Decision.objects.filter(pk=decision.pk).update(calc_lease_until=until)
    else:
        until = timezone.now() + timedelta(seconds=30)
        Decision.objects.filter(pk=decision.pk).update(
            calc_lease_owner="thief", calc_lease_until=until
        )
    with (
        CaptureQueriesContext(connection) as captured,
        pytest.raises(LeaseLost, match="expired or was taken over"),
    ):
        calc.services._set_status(calculation, CalculationStatus.TALLYING, lease)
    assert len(sent_unprepared(captured)) == 1
    # The failure is recorded in the stage the row is still in.
    assert calculation.status == CalculationStatus.STAGING
    assert Calculation.objects.get(pk=calculation.pk).status == CalculationStatus.STAGING


LEASED = "WHERE id = %s AND calc_lease_owner = %s AND calc_lease_until >= %s"


def test_a_calculation_s_stages_check_the_lease_in_their_own_writes(decision, settings):
    """From its snapshot to its completion a calculation sends one statement per stage, which
    checks the lease as it writes, and one more check before it completes."""
    settings.DATABASE_PREPARED_STATEMENTS = False  # the statements as written, on either database
    settings.CALC_HEARTBEAT_SECONDS = 60  # no beat during the calculation
    sent: list[tuple[str, Any]] = []

    def watch(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        [calculation] = decision_calculate(decision.pk, owner="worker")

    assert calculation.status == CalculationStatus.COMPLETED
    claim, ready, staging, tallying, check, release = [
        (sql, params) for sql, params in sent if re.search('calc_lease_owner"? =', sql)
    ]
    assert 'SET "calc_lease_owner"' in claim[0]
    assert 'SET "calc_lease_owner"' in release[0]
    assert ready[0].startswith('UPDATE "calc_calculation" SET generation = %s')
    assert ready[1][2] == CalculationStatus.READY
    for (sql, params), status in [(staging, "STAGING"), (tallying, "TALLYING")]:
        assert sql.startswith('UPDATE "calc_calculation" SET status = %s'), sql
        assert params[0] == status
    assert check[0].startswith('SELECT 1 FROM "democracy_decision"')
    assert all(LEASED in sql for sql, _ in (ready, staging, tallying, check))
    # Nothing between the stages: resolving and tallying read nothing more.
    first = sent.index(staging)
    assert sent[first : first + 3] == [staging, tallying, check]


def test_a_lease_lost_before_the_snapshot_is_recorded_fails_the_calculation_where_it_is(
    decision, monkeypatch
):
    original = calc.services.input_read

    def stolen(decision_id: int, kept: Any) -> Any:
        read = original(decision_id, kept)
        Decision.objects.filter(pk=decision.pk).update(calc_lease_owner="thief")
        return read

    monkeypatch.setattr(calc.services, "input_read", stolen)
    with pytest.raises(LeaseLost):
        decision_calculate(decision.pk)
    calculation = Calculation.objects.get()
    assert (calculation.status, calculation.failed_stage) == ("FAILED", "CREATING")
    assert not StoredSnapshot.objects.exists()
    current = fresh(decision)
    assert (current.calc_failures, current.calc_retry_at) == (0, None)  # the thief's to count
    assert current.calc_lease_owner == "thief"


def test_a_calculation_s_lease_checks_and_stage_writes_are_executed_by_name(decision):
    require_postgres()
    decision_calculate(decision.pk)  # prepares them on this connection
    request_recalculation(
        community_id=decision.community_id, trigger="again", decision_ids=[decision.pk]
    )
    with CaptureQueriesContext(connection) as captured:
        [calculation] = decision_calculate(decision.pk)
    assert calculation.status == CalculationStatus.COMPLETED
    sent = [query["sql"] for query in captured.captured_queries]
    executed = [sql.split("(")[0].rsplit("_", 1)[0] for sql in sent if sql.startswith("EXECUTE")]
    assert executed.count("EXECUTE crowdvote_snapshot_ready") == 1
    assert executed.count("EXECUTE crowdvote_status_leased") == 2
    assert executed.count("EXECUTE crowdvote_lease_live") == 1
    assert not [sql for sql in sent if sql.startswith("PREPARE")]
