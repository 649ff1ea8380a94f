"""The worker's writes around the decision's row, in as few statements as a storm allows.

Ballots queue for the decision's row in their last message, and each statement a worker
runs while it holds that row (and each pause of its thread between them) holds them all
back. So a calculation starts without the row's lock, and completes with one statement
per change under it, written by hand like the ballots' own (``calc.queue``).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from django.db import connection
from django.db.models import Field

from calc.models import Calculation, CalculationStatus
from core.rows import all_of, columns, first_of, table
from democracy.models import Decision

QUEUED = CalculationStatus.QUEUED.value


def _prepared(name: str, value: datetime | None) -> object:
    field = Calculation._meta.get_field(name)
    assert isinstance(field, Field)
    return field.get_db_prep_save(value, connection)


def queued_start(decision_id: int, owner: str, now: datetime) -> Calculation | None:
    """Turn the decision's QUEUED calculation into CREATING for ``owner``; None if none.

    The QUEUED row's own lock orders this against a ballot counting into it: that ballot
    commits first (and the snapshot taken next includes it), or it finds the calculation
    started and queues a new one.
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
    """Mark the decision's QUEUED calculation as covered by ``calculation``; return it."""
    found = all_of(
        (Calculation,),
        f"UPDATE {table(Calculation)} SET status = %s, absorbed_by_id = %s, generation = %s, "
        f"content_hash = %s, finished_at = %s WHERE decision_id = %s AND status = %s "
        f"RETURNING {columns(Calculation)}",
        [
            CalculationStatus.ABSORBED.value,
            calculation.pk,
            calculation.generation,
            calculation.content_hash,
            _prepared("finished_at", calculation.finished_at),
            calculation.decision_id,
            QUEUED,
        ],
    )
    return found[0][0] if found else None
