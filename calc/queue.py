"""Ask for recalculation: a durable generation bump plus a wake-up call after commit.

The row change is the request; the channel message only wakes a worker sooner. A lost
message is recovered by the sweeper (calc.worker), which looks for decisions whose
requested generation is ahead of their completed one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from calc.broadcast import broadcast
from calc.layer import send_or_skip
from calc.models import Calculation, CalculationStatus, Change, ChangeKind
from core.logs import Event, log_event
from democracy.models import Decision, DecisionStatus

CALC_CHANNEL = "calc"
WAKE = "calc.wake"


def wake_message(decision_id: int) -> dict[str, object]:
    """Return the wake-up message for one decision (every message needs a ``type``)."""
    return {"type": WAKE, "decision_id": decision_id}


def wake(decision_ids: Iterable[int]) -> None:
    """Send wake-up calls to the worker channel; losing one only delays the work.

    While Redis is away they are skipped: a worker's sweeper finds the work in the database.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    for decision_id in decision_ids:
        if not send_or_skip(layer.send, CALC_CHANNEL, wake_message(decision_id)):
            return


@dataclass(frozen=True, slots=True)
class ChangeKey:
    """Which rows a change touched: the worker reads them again (``calc.delta_read``)."""

    kind: ChangeKind
    member_id: int | None = None
    other_id: int | None = None


WHOLE = ChangeKey(ChangeKind.WHOLE)


def _record(decision_ids: list[int], change: ChangeKey) -> None:
    """Log ``change`` under each decision's new generation, in one statement.

    Runs right after the bump, while the rows are locked: generations and their changes
    commit together and in order.
    """
    q = connection.ops.quote_name
    changes, decisions = q(Change._meta.db_table), q(Decision._meta.db_table)
    marks = ", ".join(["%s"] * len(decision_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {changes} (decision_id, generation, kind, member_id, other_id, "
            f"created_at) SELECT id, calc_requested_gen, %s, %s, %s, %s FROM {decisions} "
            f"WHERE id IN ({marks})",
            [change.kind.value, change.member_id, change.other_id, timezone.now(), *decision_ids],
        )


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
    counted = Calculation.objects.raw(
        f"UPDATE {table} SET change_count = change_count + 1 "
        f"WHERE decision_id IN ({marks}) AND status = %s RETURNING *",
        [*decision_ids, CalculationStatus.QUEUED.value],
    )
    return {calc.decision_id: calc for calc in counted}


def request_recalculation(
    *,
    community_id: int,
    trigger: str,
    change: ChangeKey = WHOLE,
    actor: str = "-",
    decision_ids: Iterable[int] | None = None,
) -> list[Calculation]:
    """Ask for a recalculation of the community's open decisions, or of ``decision_ids``.

    Runs in the caller's transaction. ``change`` names the rows that changed (by default:
    read the decision whole). Returns the queued calculation of each decision: an existing
    QUEUED one absorbs this request (bursts coalesce into one pending calculation).
    """
    decisions = Decision.objects.filter(community_id=community_id)
    bump = {"calc_requested_gen": F("calc_requested_gen") + 1, "calc_failures": 0}
    with transaction.atomic(savepoint=False):  # joins the caller's transaction, if any
        # Updating the rows first locks them (PostgreSQL), so concurrent requests for one
        # decision queue up here and each sees the other's QUEUED calculation.
        if decision_ids is None:
            ids = sorted(decisions.filter(status=DecisionStatus.OPEN).values_list("pk", flat=True))
            Decision.objects.filter(pk__in=ids).update(**bump, calc_retry_at=None)
        else:
            # The usual case, a ballot: one statement for the decisions named, and a second
            # only when some of them were not there to bump (a draft, another community's).
            wanted = sorted(set(decision_ids))
            named = decisions.filter(pk__in=wanted).exclude(status=DecisionStatus.DRAFT)
            bumped = named.update(**bump, calc_retry_at=None)
            ids = wanted if bumped == len(wanted) else sorted(named.values_list("pk", flat=True))
        if ids:
            _record(ids, change)
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
