"""Asking for recalculation: a change logged, then a wake-up and a broadcast after commit."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone

from calc.models import Calculation, CalculationStatus, Change
from calc.queue import (
    CALC_CHANNEL,
    LOG_STATEMENT,
    WAKE,
    NotLogged,
    _queue_params,
    _queue_sql,
    request_recalculation,
)
from calc.triggers import ballot_saved
from democracy.models import Ballot, Decision, Membership
from democracy.selectors import BallotTarget, ballot_target
from democracy.services.ballots import StarsSpec, ballot_cast, ballot_cast_reacted
from tests.calc.conftest import log_analyzed, logged, received, rows_read_from_the_log, subscribe
from tests.concurrency import require_postgres, run_together
from tests.factories import DecisionFactory, MembershipFactory


class Boom(Exception):
    pass


@pytest.fixture
def decision(db):
    return DecisionFactory(choices=["Park", "Road"])


def ask(decision: Decision) -> list[Calculation]:
    return request_recalculation(
        community_id=decision.community_id, trigger="test", decision_ids=[decision.pk]
    )


@pytest.mark.django_db
def test_commit_sends_one_wake_up_on_the_calc_channel(
    decision, layer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ask(decision)
    assert received(layer, CALC_CHANNEL) == [{"type": WAKE, "decision_id": decision.pk}]


@pytest.mark.django_db
def test_commit_broadcasts_the_queued_calculation_to_the_group(
    decision, layer, django_capture_on_commit_callbacks
):
    channel = subscribe(layer, decision.pk)
    with django_capture_on_commit_callbacks(execute=True):
        [calculation] = ask(decision)
    [message] = received(layer, channel)
    assert message["type"] == "calc.status"
    assert message["decision_id"] == decision.pk
    assert message["calculation"]["id"] == calculation.pk
    assert message["calculation"]["status"] == CalculationStatus.QUEUED


@pytest.mark.django_db
def test_each_queued_calculation_is_stamped_with_its_own_trigger_and_time(decision):
    # A new QUEUED calculation's columns are prepared once; its trigger and time are not.
    before = timezone.now()
    [first] = request_recalculation(
        community_id=decision.community_id, trigger="first", decision_ids=[decision.pk]
    )
    Calculation.objects.filter(pk=first.pk).update(status=CalculationStatus.COMPLETED)
    [second] = request_recalculation(
        community_id=decision.community_id, trigger="x" * 300, decision_ids=[decision.pk]
    )
    stored = {calc.pk: calc for calc in Calculation.objects.filter(decision=decision)}
    assert second.pk != first.pk
    assert (stored[first.pk].trigger, stored[second.pk].trigger) == ("first", "x" * 250)
    assert before <= stored[first.pk].requested_at <= stored[second.pk].requested_at
    assert stored[second.pk].requested_at <= timezone.now()
    assert (stored[second.pk].status, stored[second.pk].change_count) == ("QUEUED", 1)


@pytest.mark.django_db
def test_a_request_absorbed_by_a_queued_calculation_sends_nothing(
    decision, layer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        [first] = ask(decision)
    received(layer, CALC_CHANNEL)
    channel = subscribe(layer, decision.pk)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        [second] = ask(decision)
    assert second.pk == first.pk
    assert second.change_count == 2  # what it has gathered
    assert Calculation.objects.get(pk=first.pk).trigger == "test"  # the first change's
    assert callbacks == []
    assert received(layer, CALC_CHANNEL) == []
    assert received(layer, channel) == []
    assert logged(decision) == 2


@pytest.mark.django_db
def test_community_wide_request_wakes_each_open_decision(
    decision, layer, django_capture_on_commit_callbacks
):
    sibling = DecisionFactory(community=decision.community)
    with django_capture_on_commit_callbacks(execute=True):
        request_recalculation(community_id=decision.community_id, trigger="test")
    woken = {message["decision_id"] for message in received(layer, CALC_CHANNEL)}
    assert woken == {decision.pk, sibling.pk}


@pytest.mark.django_db(transaction=True)
def test_a_ballot_cast_wakes_the_worker_after_a_real_commit(decision, layer):
    member = MembershipFactory(community=decision.community)
    received(layer, CALC_CHANNEL)  # The member joining already asked once.
    Calculation.objects.all().delete()
    park = decision.choices.get(title="Park")
    ballot_cast(user=member.user, decision=decision, stars=[StarsSpec(park.pk, 5)])
    assert received(layer, CALC_CHANNEL) == [{"type": WAKE, "decision_id": decision.pk}]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_request_changes_and_sends_nothing(decision, layer):
    channel = subscribe(layer, decision.pk)

    def ask_then_fail() -> None:
        with transaction.atomic():
            ask(decision)
            raise Boom

    with pytest.raises(Boom):
        ask_then_fail()
    assert received(layer, CALC_CHANNEL) == []
    assert received(layer, channel) == []
    assert Decision.objects.get(pk=decision.pk).calc_requested_gen == 0
    assert not Calculation.objects.exists()


@pytest.mark.django_db
def test_a_decision_past_its_close_takes_no_change_from_a_cast(decision):
    """A cast asks only for an open decision; the transaction is then void (on
    PostgreSQL the message fails whole: it may carry the COMMIT)."""
    [queued] = ask(decision)
    Decision.objects.filter(pk=decision.pk).update(closes_at=timezone.now() - timedelta(seconds=1))

    def cast() -> list[Calculation]:
        with transaction.atomic():
            return request_recalculation(
                community_id=decision.community_id,
                trigger="test",
                decision_ids=[decision.pk],
                open_only=True,
            )

    with pytest.raises(NotLogged):
        cast()
    assert Calculation.objects.get(pk=queued.pk).change_count == 1
    assert logged(decision) == 1


@pytest.mark.django_db
def test_a_change_finding_a_calculation_waiting_attempts_no_insert(decision):
    """In a storm every ballot finds a QUEUED calculation waiting. An insert that only the
    conflict stops costs PostgreSQL the row's every constraint first: none is attempted."""
    require_postgres()
    [queued] = ask(decision)
    with connection.cursor() as cursor:
        cursor.execute(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {_queue_sql('id = %s')}",
            [*_queue_params("test", timezone.now()), decision.pk],
        )
        (found,) = cursor.fetchone()
    [plan] = json.loads(found) if isinstance(found, str) else found
    insert = plan["Plan"]
    assert insert["Operation"] == "Insert"
    assert (insert["Tuples Inserted"], insert["Conflicting Tuples"]) == (0, 0)
    assert Calculation.objects.filter(decision=decision).get().pk == queued.pk


def _target(decision: Decision, member: Membership) -> BallotTarget:
    found = ballot_target(decision.pk, member.user)
    assert found is not None
    return found


def _committed_ballots() -> int:
    """Count ballots as another connection sees them: only what has committed."""
    settings = connection.settings_dict
    url = (
        f"postgresql://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    )
    with psycopg.connect(url, autocommit=True) as other:
        row = other.execute('SELECT count(*) FROM "democracy_ballot"').fetchone()
    return int(row[0]) if row else 0


@pytest.mark.django_db(transaction=True)
def test_a_cast_that_owns_its_transaction_commits_in_the_logs_message(decision):
    """The decision's row is share-locked from the log to the COMMIT: sent together,
    PostgreSQL holds it only while it runs them, never while the server's thread waits."""
    require_postgres()
    members = MembershipFactory.create_batch(2, community=decision.community)
    park = decision.choices.get(title="Park")
    bumps: list[tuple[str, int]] = []

    def watch(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        result = execute(sql, params, many, context)
        if sql.startswith(f"EXECUTE {LOG_STATEMENT}_"):
            bumps.append((sql, _committed_ballots()))
        return result

    with connection.execute_wrapper(watch):
        [first] = ballot_cast_reacted(
            target=_target(decision, members[0]), stars=[StarsSpec(park.pk, 5)]
        ).reactions[ballot_saved]
        [second] = ballot_cast_reacted(
            target=_target(decision, members[1]), stars=[StarsSpec(park.pk, 2)]
        ).reactions[ballot_saved]

    assert [sql.endswith("; COMMIT") for sql, _ in bumps] == [True, True]
    assert [seen for _, seen in bumps] == [1, 2]  # committed as the message returned
    assert second.pk == first.pk
    assert second.status == CalculationStatus.QUEUED
    assert second.change_count == first.change_count + 1  # what it has gathered


@pytest.mark.django_db(transaction=True)
def test_a_cast_inside_a_callers_transaction_leaves_the_commit_to_it(decision):
    require_postgres()
    member = MembershipFactory(community=decision.community)
    park = decision.choices.get(title="Park")
    generation = Decision.objects.get(pk=decision.pk).calc_requested_gen
    sent: list[str] = []

    def watch(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        sent.append(sql)
        return execute(sql, params, many, context)

    def cast_then_fail() -> None:
        with connection.execute_wrapper(watch), transaction.atomic():
            ballot_cast(user=member.user, decision=decision, stars=[StarsSpec(park.pk, 5)])
            assert _committed_ballots() == 0
            raise Boom

    with pytest.raises(Boom):
        cast_then_fail()
    assert sent
    assert not any("COMMIT" in sql for sql in sent)
    assert not Ballot.objects.exists()
    assert Decision.objects.get(pk=decision.pk).calc_requested_gen == generation


@pytest.mark.django_db(transaction=True)
def test_casts_at_once_on_one_decision_each_count_once_into_one_queued_calculation(decision):
    """Real concurrent transactions, each committing in its log's message: every cast logs
    its change once, none moves the generation, and they gather in one QUEUED calculation."""
    require_postgres()
    members = MembershipFactory.create_batch(12, community=decision.community)
    Calculation.objects.all().delete()
    before = Decision.objects.get(pk=decision.pk).calc_requested_gen
    waiting = Change.objects.filter(decision=decision, generation__isnull=True)
    already = waiting.count()
    park = decision.choices.get(title="Park")

    def cast(index: int) -> list[Calculation]:
        return ballot_cast_reacted(
            target=_target(decision, members[index]), stars=[StarsSpec(park.pk, index % 6)]
        ).reactions[ballot_saved]

    outcomes = run_together(len(members), cast)

    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    [queued] = Calculation.objects.filter(decision=decision)
    assert queued.status == CalculationStatus.QUEUED
    assert {calc.pk for [calc] in outcomes} == {queued.pk}  # type: ignore[misc]
    # Each counts what it saw gathered: its own change and those committed before it.
    answered = [calc.change_count for [calc] in outcomes]  # type: ignore[misc]
    assert all(1 <= count <= already + len(members) for count in answered)
    assert Decision.objects.get(pk=decision.pk).calc_requested_gen == before
    assert waiting.filter(kind="BALLOT").count() == len(members)
    assert Ballot.objects.filter(decision=decision).count() == len(members)


@pytest.mark.django_db(transaction=True)
def test_a_cast_never_waits_for_another_cast_in_flight(decision):
    """The first cast holds its transaction open after its last statement; a second one on
    the same decision commits meanwhile: ballots share the decision's row."""
    require_postgres()
    first_voter, second_voter = MembershipFactory.create_batch(2, community=decision.community)
    park = decision.choices.get(title="Park")
    logged_first, second_done = threading.Event(), threading.Event()

    def cast_and_hold() -> None:
        try:
            with transaction.atomic():
                ballot_cast(user=first_voter.user, decision=decision, stars=[StarsSpec(park.pk, 5)])
                logged_first.set()
                assert second_done.wait(10), "the second cast waited for the first"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        holding = pool.submit(cast_and_hold)
        assert logged_first.wait(10)
        try:
            ballot_cast(user=second_voter.user, decision=decision, stars=[StarsSpec(park.pk, 1)])
            assert _committed_ballots() == 1  # the second, while the first is still open
        finally:
            second_done.set()
        holding.result(timeout=30)
    assert Ballot.objects.filter(decision=decision).count() == 2
    assert (
        Calculation.objects.filter(decision=decision, status=CalculationStatus.QUEUED).count() == 1
    )


@pytest.mark.django_db
def test_asking_for_no_decisions_bumps_none(decision):
    """An empty list names no decision: not the community's every decision."""
    generation = Decision.objects.get(pk=decision.pk).calc_requested_gen
    changes = Change.objects.count()

    assert (
        request_recalculation(community_id=decision.community_id, trigger="t", decision_ids=[])
        == []
    )
    assert Decision.objects.get(pk=decision.pk).calc_requested_gen == generation
    assert Change.objects.count() == changes


@pytest.mark.django_db
def test_a_cast_counts_its_decisions_waiting_changes_without_reading_its_whole_log(decision):
    """The log grows by a row a change, hundreds a second in a storm; a statement planned
    while it was empty (a prepared statement's generic plan) would go on reading all of it."""
    require_postgres()
    ask(decision)
    log_analyzed()  # as autovacuum does while the log is small
    for _ in range(6):  # past the fifth run, where a prepared statement settles on a plan
        ask(decision)
    Change.objects.filter(decision=decision).update(generation=1)
    Change.objects.bulk_create(
        Change(decision=decision, generation=1, kind="WHOLE") for _ in range(3000)
    )

    before = rows_read_from_the_log()
    [calculation] = ask(decision)

    assert calculation.change_count == 1  # the one change waiting: this one
    assert rows_read_from_the_log() - before < 10
