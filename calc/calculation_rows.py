"""The worker's writes around the decision's row, in as few statements as a storm allows.

Ballots share-lock the decision's row in their last message, and each statement a worker
runs while it holds the row exclusively (and each pause of its thread between them) holds
them all back. So a calculation starts without the row's lock, stamps the changes waiting
and completes with one statement per change under it, written by hand like the ballots'
own (``calc.queue``).

Between its stages it asks whether its lease is still live and moves its status on, and its
loop asks whether the decision is due again: through the ORM, building these small
statements took more of the worker's time than the database took to run them.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from django.db import connection, transaction
from django.db.models import Field, Model

from calc.models import Calculation, CalculationStatus, Change
from core.prepared import execute_sql
from core.rows import all_of, all_rows, columns, first_of, table
from democracy.models import Decision, DecisionStatus

QUEUED = CalculationStatus.QUEUED.value
# Decisions whose changes are calculated (a draft takes none).
LIVE = (DecisionStatus.OPEN.value, DecisionStatus.CLOSED.value)


def _prepared(name: str, value: datetime | None, model: type[Model] = Calculation) -> object:
    field = model._meta.get_field(name)
    assert isinstance(field, Field)
    return field.get_db_prep_save(value, connection)


def queued_start(decision_id: int, owner: str, now: datetime) -> Calculation | None:
    """Turn the decision's QUEUED calculation into CREATING for ``owner``; None if none.

    A change that found this calculation QUEUED holds the decision's share lock until it
    commits; the stamp that follows waits for it, so the snapshot includes it. A change
    that finds it started queues a new one.
    """
    found = all_of(
        (Calculation,),
        _start_sql(),
        [
            CalculationStatus.CREATING.value,
            _prepared("started_at", now),
            owner,
            decision_id,
            decision_id,
            QUEUED,
        ],
    )
    return found[0][0] if found else None


@cache
def _start_sql() -> str:
    return (
        f"UPDATE {table(Calculation)} SET status = %s, started_at = %s, worker = %s, "
        f"retry_count = (SELECT calc_failures FROM {table(Decision)} WHERE id = %s) "
        f"WHERE decision_id = %s AND status = %s RETURNING {columns(Calculation)}"
    )


def decision_locked(decision_id: int) -> Decision:
    """Return the decision, its row locked until the transaction ends (PostgreSQL).

    SQLite has no row locks: its one writer at a time stands in for them.
    """
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    sql = f"SELECT {columns(Decision)} FROM {table(Decision)} WHERE id = %s{lock}"
    (decision,) = first_of((Decision,), sql, [decision_id])
    return decision


def generation_stamped(decision_id: int, calculation: Calculation | None = None) -> int:
    """Stamp the changes waiting in the decision's log with its next generation; return the
    generation the snapshot taken next reads.

    Under the row's exclusive lock, so changes in flight (which hold its key-share lock)
    commit first and are stamped too. New changes reset the failure count and the retry
    time, as a new request always has, and ``calculation`` (the one about to read them)
    counts them.
    """
    if connection.vendor != "postgresql":
        return _stamped_statement_by_statement(decision_id, calculation)
    with connection.cursor() as cursor:
        # One message: outside a transaction PostgreSQL runs it as one, and ballots queue
        # behind the lock for a single round trip. The stamp is a statement of its own, so
        # its snapshot is taken once the lock is held: the changes in flight are in it. It
        # is planned each time: a plan made while the log was small would read all of it.
        lock = execute_sql(cursor, "crowdvote_stamp_lock", _stamp_lock_sql())
        stamp = _stamp_sql()
        pk = None if calculation is None else calculation.pk
        cursor.execute(f"{lock}; {stamp}", [decision_id, decision_id, decision_id, pk, decision_id])
        cursor.nextset()
        row = cursor.fetchone()
    assert row is not None
    generation, stamped = row
    if stamped and calculation is not None:
        calculation.change_count = stamped
    return int(generation)


@cache
def _stamp_lock_sql() -> str:
    return f"SELECT 1 FROM {table(Decision)} WHERE id = %s FOR UPDATE"


@cache
def _stamp_sql() -> str:
    return (
        f"WITH stamped AS (UPDATE {table(Change)} c SET generation = d.calc_requested_gen + 1 "
        f"FROM {table(Decision)} d WHERE d.id = %s AND c.decision_id = d.id "
        "AND c.generation IS NULL RETURNING c.id), "
        f"bumped AS (UPDATE {table(Decision)} SET calc_requested_gen = calc_requested_gen + 1, "
        "calc_failures = 0, calc_retry_at = NULL WHERE id = %s AND EXISTS (SELECT FROM stamped) "
        "RETURNING calc_requested_gen), "
        f"counted AS (UPDATE {table(Calculation)} "
        "SET change_count = (SELECT count(*) FROM stamped) "
        "WHERE id = %s AND EXISTS (SELECT FROM stamped) RETURNING id) "
        "SELECT coalesce((SELECT calc_requested_gen FROM bumped), d.calc_requested_gen), "
        f"(SELECT count(*) FROM stamped) FROM {table(Decision)} d WHERE d.id = %s"
    )


def _stamped_statement_by_statement(decision_id: int, calculation: Calculation | None) -> int:
    """``generation_stamped`` on SQLite, whose one writer at a time stands in for the lock."""
    with transaction.atomic():
        generation = decision_locked(decision_id).calc_requested_gen
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table(Change)} SET generation = %s "
                "WHERE decision_id = %s AND generation IS NULL",
                [generation + 1, decision_id],
            )
            stamped = cursor.rowcount
            if not stamped:
                return generation
            cursor.execute(
                f"UPDATE {table(Decision)} SET calc_requested_gen = %s, calc_failures = 0, "
                "calc_retry_at = NULL WHERE id = %s",
                [generation + 1, decision_id],
            )
            if calculation is not None:
                cursor.execute(
                    f"UPDATE {table(Calculation)} SET change_count = %s WHERE id = %s",
                    [stamped, calculation.pk],
                )
                calculation.change_count = stamped
    return generation + 1


def changes_waiting(decision_id: int) -> bool:
    """Whether changes wait in the decision's log for a calculation to stamp them."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {table(Change)} WHERE decision_id = %s AND generation IS NULL LIMIT 1",
            [decision_id],
        )
        return cursor.fetchone() is not None


def generation_completed(decision_id: int, generation: int, kept_by: str) -> None:
    """Record ``generation`` as calculated (unless a later one was) and who keeps its state.

    Every expression reads the row as it was before the update, so the failure count and
    the retry time are reset exactly when the generation advances.
    """
    advances = "calc_completed_gen < %s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table(Decision)} SET "
            f"calc_failures = CASE WHEN {advances} THEN 0 ELSE calc_failures END, "
            f"calc_retry_at = CASE WHEN {advances} THEN NULL ELSE calc_retry_at END, "
            f"calc_completed_gen = CASE WHEN {advances} THEN %s ELSE calc_completed_gen END, "
            "calc_kept_by = %s WHERE id = %s",
            [generation, generation, generation, generation, kept_by, decision_id],
        )


def queued_absorb(calculation: Calculation) -> Calculation | None:
    """Mark the decision's QUEUED calculation as covered by ``calculation``; return it.

    It counts the changes of the covering generation logged since it was queued: those it
    gathered, which the covering calculation counts too.
    """
    gathered = (
        f"(SELECT count(*) FROM {table(Change)} WHERE decision_id = %s AND generation = %s "
        f"AND created_at >= {table(Calculation)}.requested_at)"
    )
    found = all_of(
        (Calculation,),
        f"UPDATE {table(Calculation)} SET status = %s, absorbed_by_id = %s, generation = %s, "
        f"change_count = CASE WHEN {gathered} > 0 THEN {gathered} ELSE change_count END, "
        f"content_hash = %s, finished_at = %s WHERE decision_id = %s AND status = %s "
        f"RETURNING {columns(Calculation)}",
        [
            CalculationStatus.ABSORBED.value,
            calculation.pk,
            calculation.generation,
            *[calculation.decision_id, calculation.generation] * 2,
            calculation.content_hash,
            _prepared("finished_at", calculation.finished_at),
            calculation.decision_id,
            QUEUED,
        ],
    )
    return found[0][0] if found else None


# The lease's condition: a lookup by primary key, so the statements that ask it are prepared.
_LEASED = "id = %s AND calc_lease_owner = %s AND calc_lease_until >= %s"


def lease_live(decision_id: int, owner: str, now: datetime) -> bool:
    """Whether ``owner`` holds the decision's lease at ``now``."""
    params = [decision_id, owner, _prepared("calc_lease_until", now, Decision)]
    return bool(all_rows(_lease_live_sql(), params, prepared="crowdvote_lease_live"))


@cache
def _lease_live_sql() -> str:
    return f"SELECT 1 FROM {table(Decision)} WHERE {_LEASED}"


def status_leased(
    calculation_id: int, status: str, decision_id: int, owner: str, now: datetime
) -> bool:
    """Set the calculation's status if ``owner`` holds the decision's lease at ``now``;
    return whether it did."""
    until = _prepared("calc_lease_until", now, Decision)
    params = [status, calculation_id, decision_id, owner, until]
    return bool(all_rows(_status_sql(), params, prepared="crowdvote_status_leased"))


@cache
def _status_sql() -> str:
    return (
        f"UPDATE {table(Calculation)} SET status = %s WHERE id = %s "
        f"AND EXISTS (SELECT 1 FROM {table(Decision)} WHERE {_LEASED}) RETURNING id"
    )


def snapshot_ready(calculation: Calculation, owner: str, now: datetime) -> bool:
    """Record ``calculation`` READY, with its generation and content hash, if ``owner``
    holds the decision's lease at ``now``; return whether it did (and set its status)."""
    params = [
        calculation.generation,
        calculation.content_hash,
        CalculationStatus.READY.value,
        calculation.pk,
        calculation.decision_id,
        owner,
        _prepared("calc_lease_until", now, Decision),
    ]
    if not all_rows(_ready_sql(), params, prepared="crowdvote_snapshot_ready"):
        return False
    calculation.status = CalculationStatus.READY
    return True


@cache
def _ready_sql() -> str:
    return (
        f"UPDATE {table(Calculation)} SET generation = %s, content_hash = %s, status = %s "
        f"WHERE id = %s AND EXISTS (SELECT 1 FROM {table(Decision)} WHERE {_LEASED}) "
        "RETURNING id"
    )


# Of a decision ``d``: no retry time after a failure is ahead.
_RETRY_DUE = "(d.calc_retry_at IS NULL OR d.calc_retry_at <= %s)"


def _waiting_sql() -> str:
    """Of a decision ``d``: changes wait in its log for a calculation to stamp them."""
    return (
        f"EXISTS (SELECT 1 FROM {table(Change)} c "
        "WHERE c.decision_id = d.id AND c.generation IS NULL)"
    )


def calculation_due(decision_id: int, now: datetime) -> bool:
    """Whether the decision, live, needs a calculation at ``now``: a change waits in its log,
    or a generation requested is not calculated yet and no retry time is ahead."""
    params = [decision_id, *LIVE, _prepared("calc_retry_at", now, Decision)]
    return bool(all_rows(_due_sql(), params, first=True))


@cache
def _due_sql() -> str:
    # Planned each time, as the stamp is: the log's plan depends on how large it has grown.
    return (
        f"SELECT 1 FROM {table(Decision)} d WHERE d.id = %s AND d.status IN (%s, %s) AND "
        f"({_waiting_sql()} OR (d.calc_requested_gen > d.calc_completed_gen AND {_RETRY_DUE}))"
    )


def decisions_due_at(now: datetime, retry_limit: int) -> list[int]:
    """Return the live decisions needing a calculation whose lease is free at ``now``, in id
    order: a change waits in the log, or a generation requested is not calculated yet, after
    fewer than ``retry_limit`` failures in a row and with no retry time ahead."""
    at = _prepared("calc_lease_until", now, Decision)
    rows = all_rows(_decisions_due_sql(), [*LIVE, at, retry_limit, at])
    return [pk for (pk,) in rows]


@cache
def _decisions_due_sql() -> str:
    return (
        f"SELECT d.id FROM {table(Decision)} d WHERE d.status IN (%s, %s) "
        "AND (d.calc_lease_until IS NULL OR d.calc_lease_until < %s) "
        f"AND ({_waiting_sql()} OR (d.calc_requested_gen > d.calc_completed_gen "
        f"AND d.calc_failures < %s AND {_RETRY_DUE})) ORDER BY d.id"
    )
