"""Running calculations: the pipeline, leases, failures and retries, finals, logs, broadcasts."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

import calc.calculation_input
import calc.results
import calc.services
from accounts.models import User
from calc.engine import resolve_ballots, tally_star
from calc.models import RUNNING, Calculation, CalculationStatus, Change
from calc.queue import request_recalculation
from calc.result_json import result_to_json
from calc.services import (
    LeaseLost,
    calculation_fail,
    calculations_fail_stuck,
    decision_calculate,
    decisions_due,
    lease_claim,
)
from calc.snapshot import snapshot_load, snapshot_read
from core.logs import EventFormatter
from democracy.models import Ballot, Decision, DecisionStatus, Membership, Role
from democracy.services.ballots import StarsSpec, ballot_cast
from democracy.services.decisions import (
    ChoiceSpec,
    decision_close,
    decision_create,
    decision_publish,
)
from democracy.services.followings import following_upsert
from democracy.services.memberships import membership_join
from tests.calc.conftest import calculated_around, received, settled, subscribe
from tests.factories import (
    BallotFactory,
    CommunityFactory,
    DecisionFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

LINE = re.compile(
    r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[(INFO|ERROR)\] \[([A-Z_]+)\] \[system\] - .+$"
)


@pytest.fixture
def decision():
    """Return an open decision with three counted ballots: Park wins 13 to 5."""
    decision = DecisionFactory(choices=["Park", "Road"])
    manager = MembershipFactory(community=decision.community, is_manager=True)
    BallotFactory(decision=decision, membership=manager, stars={"Park": 5, "Road": 1})
    BallotFactory(decision=decision, stars={"Park": 4, "Road": 2})
    BallotFactory(decision=decision, stars={"Park": 4, "Road": 2})
    return decision


def fresh(decision: Decision) -> Decision:
    return Decision.objects.get(pk=decision.pk)


def engine_results(decision_id: int, content_hash: str) -> dict[str, object]:
    """Return what the engine says on the decision's current state."""
    snapshot = snapshot_read(decision_id)
    result = tally_star(
        snapshot.frozen,
        resolve_ballots(snapshot.frozen),
        content_hash=content_hash,
        choice_titles=snapshot.choice_titles,
    )
    return result_to_json(result)


def boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("the tally exploded")


def test_calculate_runs_the_whole_pipeline(decision):
    [calculation] = decision_calculate(decision.pk)
    calculation.refresh_from_db()
    current = fresh(decision)
    assert calculation.status == CalculationStatus.COMPLETED
    assert calculation.generation == current.calc_requested_gen == current.calc_completed_gen
    assert calculation.results == engine_results(decision.pk, calculation.content_hash)
    assert calculation.results["winner"] == str(decision.choices.get(title="Park").pk)
    assert calculation.started_at <= calculation.finished_at
    assert calculation.duration_ms is not None
    assert not calculation.is_final
    assert Calculation.objects.filter(status=CalculationStatus.QUEUED).count() == 0

    frozen = snapshot_load(calculation.pk)
    rerun = tally_star(
        frozen,
        resolve_ballots(frozen),
        content_hash=calculation.content_hash,
        choice_titles={str(c.pk): c.title for c in decision.choices.all()},
    )
    assert result_to_json(rerun) == calculation.results


def test_calculate_with_nothing_requested_does_nothing(decision):
    decision_calculate(decision.pk)
    assert decision_calculate(decision.pk) == []
    assert Calculation.objects.count() == 1


def test_worked_example_one_through_models_and_services(db):
    community = CommunityFactory()
    names = ["ann", "ben", "cat", "dan", "eve", "fay"]
    users = {name: UserFactory(username=name) for name in names}
    ann = MembershipFactory(community=community, user=users["ann"], is_manager=True)
    members = {"ann": ann}
    for name in names[1:]:
        role = Role.LOBBYIST if name == "eve" else Role.VOTER
        members[name] = membership_join(user=users[name], community=community, role=role)
    decision = decision_create(
        user=users["ann"],
        community=community,
        title="Budget",
        closes_at=timezone.now() + timedelta(days=1),
        choices=[ChoiceSpec("park"), ChoiceSpec("road")],
    )
    decision_publish(user=users["ann"], decision=decision)
    park, road = (decision.choices.get(title=title).pk for title in ("park", "road"))

    def cast(name: str, park_stars: int, road_stars: int, tags: list[str]) -> None:
        spec = [StarsSpec(park, park_stars), StarsSpec(road, road_stars)]
        ballot_cast(user=users[name], decision=decision, stars=spec, tags=tags)

    def follow(name: str, followee: str, tags: list[str]) -> None:
        following_upsert(
            user=users[name], community=community, followee=members[followee], tags=tags
        )

    cast("ann", 5, 1, ["budget"])
    cast("eve", 2, 4, ["budget", "parks"])
    follow("ben", "ann", ["budget"])
    follow("ben", "eve", [])
    follow("cat", "ben", ["budget"])
    follow("dan", "ben", ["schools"])
    follow("fay", "cat", [])

    [calculation] = decision_calculate(decision.pk)

    results = calculation.results
    totals = {s["choice"]: Decimal(s["totalStars"]) for s in results["scores"]}
    assert totals == {str(park): Decimal("15.5"), str(road): Decimal("8.5")}
    assert results["finalists"] == [str(park), str(road)]
    runoff = results["runoff"]
    assert (runoff["first"], runoff["preferFirst"], runoff["preferSecond"]) == (str(park), 4, 0)
    assert runoff["noPreference"] == 0
    assert results["winner"] == str(park)
    assert results["participation"]["countedBallots"] == 4


def test_a_held_lease_makes_a_second_worker_return_without_work(decision):
    assert lease_claim(decision.pk, "other-worker") is not None
    assert decision_calculate(decision.pk) == []
    assert list(Calculation.objects.values_list("status", flat=True)) == ["QUEUED"]
    assert fresh(decision).calc_lease_owner.startswith("other-worker")


def test_an_expired_lease_is_taken_over(decision):
    Decision.objects.filter(pk=decision.pk).update(
        calc_lease_owner="dead-worker", calc_lease_until=timezone.now() - timedelta(seconds=1)
    )
    [calculation] = decision_calculate(decision.pk, owner="live-worker")
    assert calculation.status == CalculationStatus.COMPLETED
    assert calculation.worker.startswith("live-worker")
    assert fresh(decision).calc_lease_owner == ""


def test_the_first_holder_of_a_lease_taken_over_loses_it_even_with_the_same_name(decision):
    first = lease_claim(decision.pk, "same-worker")
    assert first is not None
    Decision.objects.filter(pk=decision.pk).update(
        calc_lease_until=timezone.now() - timedelta(seconds=1)
    )
    second = lease_claim(decision.pk, "same-worker")
    assert second is not None
    with pytest.raises(LeaseLost):
        first.renew()
    first.release()
    second.renew()


def test_a_lease_lost_mid_run_raises_and_records_failed(decision, monkeypatch):
    original = calc.calculation_input.build_state

    def stolen(frozen, **kwargs):
        Decision.objects.filter(pk=decision.pk).update(calc_lease_owner="thief")
        return original(frozen, **kwargs)

    monkeypatch.setattr(calc.calculation_input, "build_state", stolen)
    with pytest.raises(LeaseLost):
        decision_calculate(decision.pk)
    calculation = Calculation.objects.get()
    assert calculation.status == CalculationStatus.FAILED
    assert calculation.failed_stage == CalculationStatus.STAGING
    assert "taken over" in calculation.error
    assert fresh(decision).calc_lease_owner == "thief"


def test_a_failure_is_recorded_and_retried_with_backoff_until_the_limit(
    decision, monkeypatch, settings
):
    settings.CALC_RETRY_BACKOFF_SECONDS = 10
    settings.CALC_RETRY_LIMIT = 2
    monkeypatch.setattr(calc.services, "result_to_json", boom)

    started = timezone.now()
    with pytest.raises(RuntimeError):
        decision_calculate(decision.pk)
    failed = Calculation.objects.get()
    assert failed.status == CalculationStatus.FAILED
    assert failed.failed_stage == CalculationStatus.TALLYING
    assert "RuntimeError: the tally exploded" in failed.error
    assert failed.retry_count == 0
    assert failed.finished_at is not None
    current = fresh(decision)
    assert current.calc_failures == 1
    assert (
        started + timedelta(seconds=10)
        <= current.calc_retry_at
        <= timezone.now() + timedelta(seconds=10)
    )
    assert current.calc_completed_gen == 0
    assert decisions_due() == []
    assert decision_calculate(decision.pk) == []  # Waits for its retry time.

    Decision.objects.filter(pk=decision.pk).update(calc_retry_at=timezone.now())
    assert decisions_due() == [decision.pk]
    started = timezone.now()
    with pytest.raises(RuntimeError):
        decision_calculate(decision.pk)
    retried = Calculation.objects.first()
    assert retried is not None
    assert retried.pk != failed.pk
    assert retried.retry_count == 1
    current = fresh(decision)
    assert current.calc_failures == 2
    assert current.calc_retry_at >= started + timedelta(seconds=20)

    Decision.objects.filter(pk=decision.pk).update(calc_retry_at=timezone.now())
    assert decisions_due() == []  # CALC_RETRY_LIMIT reached.

    monkeypatch.undo()
    request_recalculation(
        community_id=decision.community_id, trigger="new ballot", decision_ids=[decision.pk]
    )
    assert decisions_due() == [decision.pk]
    [completed] = decision_calculate(decision.pk)
    assert completed.status == CalculationStatus.COMPLETED
    assert fresh(decision).calc_failures == 0


def test_after_close_the_next_calculation_is_final_and_only_one_is(decision):
    decision_calculate(decision.pk)
    manager = decision.community.memberships.get(is_manager=True)
    decision_close(user=manager.user, decision=decision)
    [final] = decision_calculate(decision.pk)
    assert final.is_final
    assert fresh(decision).status == DecisionStatus.CLOSED

    request_recalculation(
        community_id=decision.community_id, trigger="recount", decision_ids=[decision.pk]
    )
    [recount] = decision_calculate(decision.pk)
    assert not recount.is_final
    assert recount.results == final.results

    with pytest.raises(IntegrityError), transaction.atomic():
        Calculation.objects.filter(pk=recount.pk).update(is_final=True)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="uses a SQLite trigger")
def test_a_failure_while_storing_a_final_result_records_failed(decision):
    manager = decision.community.memberships.get(is_manager=True)
    decision_close(user=manager.user, decision=decision)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TRIGGER refuse_completion BEFORE UPDATE OF calc_completed_gen "
            "ON democracy_decision BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    with pytest.raises(IntegrityError, match="disk full"):
        decision_calculate(decision.pk)
    calculation = Calculation.objects.get()
    assert calculation.status == CalculationStatus.FAILED
    assert calculation.failed_stage == CalculationStatus.TALLYING
    assert not calculation.is_final
    assert "disk full" in calculation.error


def test_fail_stuck_marks_a_running_calculation_without_a_lease_failed(decision):
    alive = DecisionFactory(community=decision.community)
    now = timezone.now()
    Decision.objects.filter(pk=decision.pk).update(
        calc_lease_owner="dead-worker", calc_lease_until=now - timedelta(seconds=5)
    )
    Decision.objects.filter(pk=alive.pk).update(
        calc_lease_owner="live-worker", calc_lease_until=now + timedelta(seconds=60)
    )
    stuck = Calculation.objects.create(
        decision=decision, status=CalculationStatus.STAGING, trigger="t", started_at=now
    )
    running = Calculation.objects.create(
        decision=alive,
        status=CalculationStatus.TALLYING,
        trigger="t",
        started_at=now,
        worker="live-worker",
    )

    assert calculations_fail_stuck() == 1

    stuck.refresh_from_db()
    running.refresh_from_db()
    assert stuck.status == CalculationStatus.FAILED
    assert stuck.failed_stage == CalculationStatus.STAGING
    assert "stopped responding" in stuck.error
    assert running.status == CalculationStatus.TALLYING
    assert fresh(decision).calc_failures == 1


def test_fail_stuck_fails_a_calculation_whose_decision_was_taken_over(decision):
    Decision.objects.filter(pk=decision.pk).update(
        calc_lease_owner="new-worker", calc_lease_until=timezone.now() + timedelta(seconds=60)
    )
    orphan = Calculation.objects.create(
        decision=decision,
        status=CalculationStatus.CREATING,
        trigger="t",
        started_at=timezone.now(),
        worker="old-worker",
    )
    assert calculations_fail_stuck() == 1
    orphan.refresh_from_db()
    assert orphan.status == CalculationStatus.FAILED


def test_each_phase_is_logged_in_one_line(decision, events, monkeypatch):
    [calculation] = decision_calculate(decision.pk)
    formatter = EventFormatter(datefmt="%Y-%m-%d %H:%M:%S")
    for event in ["SNAPSHOT_CREATED", "STAGING_START", "STAGING_COMPLETE", "TALLY_START"]:
        assert LINE.match(formatter.format(events.one(event))), event
    snapshot = events.one("SNAPSHOT_CREATED").getMessage()
    assert f"calculation {calculation.pk}: 3 members, 0 followings, 3 direct ballots" in snapshot
    # The fixture's joins and ballots were gathered into the one queued calculation.
    changes = calculation.change_count
    assert changes > 1
    assert re.search(rf"\({changes} changes\), read whole in \d+(\.\d)? ms$", snapshot), snapshot
    staging = events.one("STAGING_COMPLETE").getMessage()
    counted = r"3 ballots counted, 0 delegated, resolved and tallied \(build\) in \d+(\.\d)? ms$"
    assert re.search(counted, staging), staging
    tally = events.one("TALLY_COMPLETE")
    assert LINE.match(formatter.format(tally))
    assert "winner 'Park'" in tally.getMessage()

    request_recalculation(
        community_id=decision.community_id, trigger="again", decision_ids=[decision.pk]
    )
    monkeypatch.setattr(calc.services, "result_to_json", boom)
    with pytest.raises(RuntimeError):
        decision_calculate(decision.pk)
    failed = events.one("CALC_FAILED")
    assert failed.levelno == logging.ERROR
    line = formatter.format(failed)
    assert LINE.match(line)
    assert "[ERROR] [CALC_FAILED]" in line
    assert "TALLYING" in line
    assert "the tally exploded" in line


def test_status_broadcasts_go_to_the_group_with_full_results_last(decision, layer):
    channel = subscribe(layer, decision.pk)
    [calculation] = decision_calculate(decision.pk)
    messages = received(layer, channel)
    statuses = [message["calculation"]["status"] for message in messages]
    assert statuses == ["CREATING", "READY", "STAGING", "TALLYING", "COMPLETED"]
    assert {message["calculation"]["id"] for message in messages} == {calculation.pk}
    last = messages[-1]
    # All but influence (one entry per direct voter), which subscribers read when they ask.
    assert "influence" in calculation.results
    assert last["calculation"]["results"] == {
        k: v for k, v in calculation.results.items() if k != "influence"
    }
    assert last["calculation"]["generation"] == fresh(decision).calc_completed_gen
    assert [choice["title"] for choice in last["choices"]] == ["Park", "Road"]


def test_a_change_arriving_before_the_snapshot_leaves_no_orphan_queued_calculation(
    decision, monkeypatch
):
    original = calc.services.generation_stamped
    arrived: list[int] = []

    def stamp_after_a_change(decision_id: int, calculation: Calculation):
        if not arrived:
            arrived.append(decision_id)
            request_recalculation(
                community_id=decision.community_id, trigger="late", decision_ids=[decision_id]
            )
        return original(decision_id, calculation)

    monkeypatch.setattr(calc.services, "generation_stamped", stamp_after_a_change)
    [calculation] = decision_calculate(decision.pk)
    current = fresh(decision)
    assert calculation.generation == current.calc_requested_gen == current.calc_completed_gen
    # A QUEUED calculation left behind would absorb the next request without waking anyone.
    assert not Calculation.objects.filter(status=CalculationStatus.QUEUED).exists()


@pytest.mark.django_db(transaction=True)
def test_a_ballot_committed_while_the_worker_snapshots_is_counted_by_the_next_calculation(
    settings,
):
    """Real concurrent transactions: the worker is held inside its snapshot's read (decision
    row and generation read, ballots not yet) while a ballot is cast and committed. The
    snapshot does not see it, so the worker must calculate again, and that calculation
    counts it."""
    settings.CALC_DEBOUNCE_MS = 0
    decision = DecisionFactory(choices=["Park", "Road"])
    BallotFactory(decision=decision, stars={"Park": 5})
    late = MembershipFactory(community=decision.community)
    park = decision.choices.get(title="Park").pk
    first, *later = calculated_around(
        decision.pk,
        "democracy_membership",
        lambda: ballot_cast(user=late.user, decision=decision, stars=[StarsSpec(park, 3)]),
    )
    counted = [c.results["participation"]["countedBallots"] for c in (first, *later)]
    assert counted[0] == 1  # The held snapshot was read before the ballot committed ...
    assert later  # ... and the worker went on to count it.
    assert counted[-1] == 2
    current = fresh(decision)
    assert current.calc_completed_gen == current.calc_requested_gen == later[-1].generation
    assert not Calculation.objects.filter(status=CalculationStatus.QUEUED).exists()


CASTERS = 50
CASTS_EACH = 10
CALCULATORS = 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_burst_of_500_casts_with_calculations_running_converges_one_at_a_time(
    settings, monkeypatch
):
    """50 threads cast 10 ballots each while 2 threads keep calculating the decision.

    Overlap is observed twice: ``calculation_run`` is wrapped to count runs in flight in this
    process (exact for these threads), and a poller counts running rows in the database.
    """
    settings.CALC_DEBOUNCE_MS = 5
    community = CommunityFactory()
    users = User.objects.bulk_create(
        User(username=f"burst{i}", email=f"burst{i}@example.org")
        for i in range(CASTERS * CASTS_EACH)
    )
    Membership.objects.bulk_create(Membership(user=u, community=community) for u in users)
    decision = DecisionFactory(community=community, choices=["Park", "Road", "Pool"])
    choice_ids = list(decision.choices.values_list("pk", flat=True))
    casting_done = threading.Event()
    lock = threading.Lock()
    in_flight = [0, 0]  # now, peak
    rows_peak = [0]
    original_run = calc.services.calculation_run

    def observed_run(decision_id: int, lease: object) -> Calculation:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
        try:
            return original_run(decision_id, lease)
        finally:
            with lock:
                in_flight[0] -= 1

    monkeypatch.setattr(calc.services, "calculation_run", observed_run)

    def closing(work: Callable[[], None]) -> Callable[[], None]:
        def target() -> None:
            try:
                work()
            finally:
                connection.close()

        return target

    def caster(n: int) -> Callable[[], None]:
        def work() -> None:
            for user in users[n * CASTS_EACH : (n + 1) * CASTS_EACH]:
                stars = [StarsSpec(c, (user.pk * (i + 3)) % 6) for i, c in enumerate(choice_ids)]
                ballot_cast(user=user, decision=decision, stars=stars)

        return work

    deadline = time.monotonic() + 30

    def caught_up() -> bool:
        return settled(decision) or time.monotonic() > deadline

    def calculator(n: int) -> Callable[[], None]:
        def work() -> None:
            while not (casting_done.is_set() and caught_up()):
                decision_calculate(decision.pk, owner=f"calculator-{n}")
                time.sleep(0.002)

        return work

    def poller() -> None:
        while not (casting_done.is_set() and caught_up()):
            running = Calculation.objects.filter(decision=decision, status__in=RUNNING).count()
            rows_peak[0] = max(rows_peak[0], running)
            time.sleep(0.001)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CASTERS + CALCULATORS + 1) as pool:
        workers = [pool.submit(closing(calculator(n))) for n in range(CALCULATORS)]
        workers.append(pool.submit(closing(poller)))
        casters = [pool.submit(closing(caster(n))) for n in range(CASTERS)]
        try:
            for future in casters:
                future.result(timeout=30)  # Re-raises what went wrong in the thread.
        finally:
            casting_done.set()
        for future in workers:
            future.result(timeout=30)
    assert time.monotonic() - started < 60  # About 10 s on an idle laptop.
    assert Ballot.objects.filter(decision=decision).count() == CASTERS * CASTS_EACH
    assert settled(decision)
    current = fresh(decision)
    # Every cast's change was stamped into a generation some calculation read.
    stamped = Change.objects.filter(decision=decision, generation__lte=current.calc_completed_gen)
    assert stamped.filter(kind="BALLOT").count() == CASTERS * CASTS_EACH
    last = Calculation.objects.filter(status=CalculationStatus.COMPLETED).latest()
    assert last.generation == current.calc_requested_gen
    assert last.results == engine_results(decision.pk, last.content_hash)
    assert last.results["participation"]["countedBallots"] == CASTERS * CASTS_EACH
    assert in_flight[1] == 1
    assert rows_peak[0] <= 1
    assert not Calculation.objects.filter(status=CalculationStatus.QUEUED).exists()
    assert not Calculation.objects.filter(status=CalculationStatus.FAILED).exists()
    assert Calculation.objects.count() < CASTERS * CASTS_EACH / 2  # Bursts coalesce.


def test_an_expired_lease_is_not_renewed_even_if_nobody_took_it(decision):
    lease = lease_claim(decision.pk, "slow-worker")
    assert lease is not None
    Decision.objects.filter(pk=decision.pk).update(
        calc_lease_until=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(LeaseLost, match="expired or was taken over"):
        lease.renew()


def test_a_late_failure_never_overwrites_a_completed_calculation(decision):
    [completed] = decision_calculate(decision.pk)
    stale = Calculation.objects.get(pk=completed.pk)
    stale.status = CalculationStatus.TALLYING  # What a sweeper read before it completed.
    calculation_fail(stale, TimeoutError("the worker stopped responding"))
    completed.refresh_from_db()
    assert completed.status == CalculationStatus.COMPLETED
    assert completed.error == ""
    assert fresh(decision).calc_failures == 0


def test_a_calculation_keeps_what_it_resolved_for_reads_in_this_process(decision, monkeypatch):
    [calculation] = decision_calculate(decision.pk)
    voter = decision.community.memberships.filter(ballots__isnull=False).first()

    def unpack_again(calculation_pk):  # a read served from the snapshot would land here
        raise AssertionError("unpacked again")

    monkeypatch.setattr(calc.results, "snapshot_load", unpack_again)
    explanation = calc.results.explanation_of(calculation, voter.pk)
    assert explanation is not None
    assert not explanation.is_delegated
    ballot = calc.results.ballot_resolved(calculation, voter.pk)
    assert ballot is not None
    assert dict(ballot.stars) == dict(explanation.stars)
    other = Calculation(pk=calculation.pk, content_hash="f" * 64)
    with pytest.raises(AssertionError, match="unpacked again"):
        calc.results.explanation_of(other, voter.pk)


def test_another_process_reads_a_calculation_back_from_its_stored_snapshot(decision):
    [calculation] = decision_calculate(decision.pk)
    voter = decision.community.memberships.filter(ballots__isnull=False).first()
    kept = calc.results.explanation_of(calculation, voter.pk)
    calc.results._cache.entries.clear()  # as in a server process that did not calculate
    stored = Calculation.objects.get(pk=calculation.pk)
    assert calc.results.explanation_of(stored, voter.pk) == kept
    assert calc.results.ballots_page(stored, 0, 10)[1] == 3
    unsnapped = Calculation.objects.create(
        decision=decision, status=CalculationStatus.FAILED, content_hash="e" * 64
    )
    with pytest.raises(ValueError, match="has no snapshot yet"):
        calc.results.explanation_of(unsnapped, voter.pk)
