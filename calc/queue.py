"""Ask for recalculation: a durable generation bump plus a wake-up call after commit.

The row change is the request; the channel message only wakes a worker sooner. A lost
message is recovered by the sweeper (calc.worker), which looks for decisions whose
requested generation is ahead of their completed one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.utils import timezone

from calc.broadcast import broadcast
from calc.layer import send_or_skip
from calc.models import Calculation, CalculationStatus, Change, ChangeKind
from core.logs import Event, log_event
from core.rows import all_of, columns
from democracy.models import Decision, DecisionStatus

CALC_CHANNEL = "calc"
OPEN = DecisionStatus.OPEN.value
WAKE = "calc.wake"


def wake_message(decision_id: int) -> dict[str, object]:
    """Return the wake-up message for one decision (every message needs a ``type``)."""
    return {"type": WAKE, "decision_id": decision_id}


def wake(decision_ids: Iterable[int]) -> None:
    """Send wake-up calls to the workers; losing one only delays the work.

    A decision whose state a worker keeps is woken on that worker's own channel, so it
    reads only what changed; any other goes to the shared channel ``calc``. While Redis is
    away they are skipped: a worker's sweeper finds the work in the database.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    kept_by = dict(
        Decision.objects.filter(pk__in=list(decision_ids)).values_list("pk", "calc_kept_by")
    )
    for decision_id, channel in sorted(kept_by.items()):
        message = wake_message(decision_id)
        if not send_or_skip(layer.send, channel or CALC_CHANNEL, message):
            return


@dataclass(frozen=True, slots=True)
class ChangeKey:
    """Which rows a change touched: the worker reads them again (``calc.delta_read``)."""

    kind: ChangeKind
    member_id: int | None = None
    other_id: int | None = None


WHOLE = ChangeKey(ChangeKind.WHOLE)


def _bump(where: str, params: list[int | str | datetime], change: ChangeKey) -> list[int]:
    """Raise the requested generation of the decisions ``where`` selects and log ``change``
    under each new generation; return their ids.

    The log's rows are written while the decisions' rows are locked, so generations and
    their changes commit together and in order. On PostgreSQL the insert rides on the bump
    (one statement, while a storm of ballots waits for the row); SQLite takes two.
    """
    q = connection.ops.quote_name
    decisions, changes = q(Decision._meta.db_table), q(Change._meta.db_table)
    bump = (
        f"UPDATE {decisions} SET calc_requested_gen = calc_requested_gen + 1, "
        f"calc_failures = 0, calc_retry_at = NULL WHERE {where}"
    )
    insert = (
        f"INSERT INTO {changes} (decision_id, generation, kind, member_id, other_id, created_at)"
    )
    logged = [change.kind.value, change.member_id, change.other_id, timezone.now()]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH bumped AS ({bump} RETURNING id, calc_requested_gen) {insert} "
                "SELECT id, calc_requested_gen, %s, %s, %s, %s FROM bumped RETURNING decision_id",
                [*params, *logged],
            )
            return sorted(pk for (pk,) in cursor.fetchall())
        cursor.execute(f"{bump} RETURNING id, calc_requested_gen", params)
        bumped = cursor.fetchall()
        if bumped:
            cursor.executemany(
                f"{insert} VALUES (%s, %s, %s, %s, %s, %s)",
                [(pk, generation, *logged) for pk, generation in bumped],
            )
        return sorted(pk for pk, _ in bumped)


def _broadcast_all(calculations: list[Calculation]) -> None:
    for calculation in calculations:
        broadcast(calculation)


def _count_into_queued(decision_ids: list[int]) -> dict[int, Calculation]:
    """Count one more change into each decision's QUEUED calculation; return them by decision.

    A queued calculation covers every change made before it runs: it says how many it
    gathered. One ``UPDATE … RETURNING`` rather than a read and an update: it runs while the
    decisions' rows are locked, where every statement of a ballot storm waits in line.
    """
    if not decision_ids:
        return {}
    table = connection.ops.quote_name(Calculation._meta.db_table)
    marks = ", ".join(["%s"] * len(decision_ids))
    counted = all_of(
        (Calculation,),
        f"UPDATE {table} SET change_count = change_count + 1 "
        f"WHERE decision_id IN ({marks}) AND status = %s RETURNING {columns(Calculation)}",
        [*decision_ids, CalculationStatus.QUEUED.value],
    )
    return {calc.decision_id: calc for (calc,) in counted}


def request_recalculation(
    *,
    community_id: int,
    trigger: str,
    change: ChangeKey = WHOLE,
    actor: str = "-",
    decision_ids: Iterable[int] | None = None,
    open_only: bool = False,
) -> list[Calculation]:
    """Ask for a recalculation of the community's open decisions, or of ``decision_ids``.

    Runs in the caller's transaction. ``change`` names the rows that changed (by default:
    read the decision whole). Returns the queued calculation of each decision: an existing
    QUEUED one absorbs this request (bursts coalesce into one pending calculation).
    With ``open_only`` a named decision that is not open (closed meanwhile, past its
    closing time) is not bumped and has no calculation in the answer: the bump is then
    also the caller's lock and check (a ballot), one statement instead of two.
    """
    with transaction.atomic(savepoint=False):  # joins the caller's transaction, if any
        # Updating the rows first locks them (PostgreSQL), so concurrent requests for one
        # decision queue up here and each sees the other's QUEUED calculation.
        if decision_ids is None:
            ids = _bump("community_id = %s AND status = %s", [community_id, OPEN], change)
        elif wanted := sorted(set(decision_ids)):
            # The usual case, a ballot: the decisions named, unless a draft (or another
            # community's).
            marks = ", ".join(["%s"] * len(wanted))
            where = f"community_id = %s AND status <> %s AND id IN ({marks})"
            params: list[int | str | datetime] = [community_id, DecisionStatus.DRAFT.value, *wanted]
            if open_only:
                # PostgreSQL re-checks this on the row it waited for: a close that committed
                # while the bump waited for the row's lock leaves it unbumped.
                where += " AND status = %s AND closes_at > %s"
                params += [OPEN, timezone.now()]
            ids = _bump(where, params, change)
        else:
            ids = []
        existing = _count_into_queued(ids)
        created = [
            Calculation.objects.create(decision_id=pk, trigger=trigger[:250])
            for pk in ids
            if pk not in existing
        ]
    for calc in created:
        log_event(
            Event.CALC_QUEUED,
            actor,
            f"Calculation {calc.pk} queued for decision {calc.decision_id} ({trigger})",
        )
    if created:
        new_ids = [calc.decision_id for calc in created]
        transaction.on_commit(lambda: wake(new_ids), robust=True)
        transaction.on_commit(lambda: _broadcast_all(created), robust=True)
    by_decision = {**existing, **{calc.decision_id: calc for calc in created}}
    return [by_decision[pk] for pk in ids]
