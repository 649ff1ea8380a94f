"""Ask for recalculation: a durable generation bump plus a wake-up call after commit.

The row change is the request; the channel message only wakes a worker sooner. A lost
message is recovered by the sweeper (calc.worker), which looks for decisions whose
requested generation is ahead of their completed one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from channels.layers import get_channel_layer
from django.db import IntegrityError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from calc.broadcast import broadcast
from calc.layer import send_or_skip
from calc.models import Calculation, CalculationStatus, Change, ChangeKind
from core.logs import Event, log_event
from core.prepared import execute_sql
from core.rows import all_of, columns, instances
from democracy.models import Decision, DecisionStatus

CALC_CHANNEL = "calc"
OPEN = DecisionStatus.OPEN.value
QUEUED = CalculationStatus.QUEUED.value
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


Params = list[int | str | datetime | None]


def _bump_sql(where: str) -> str:
    decisions = connection.ops.quote_name(Decision._meta.db_table)
    return (
        f"UPDATE {decisions} SET calc_requested_gen = calc_requested_gen + 1, "
        f"calc_failures = 0, calc_retry_at = NULL WHERE {where}"
    )


def _insert_sql() -> str:
    changes = connection.ops.quote_name(Change._meta.db_table)
    return f"INSERT INTO {changes} (decision_id, generation, kind, member_id, other_id, created_at)"


def _logged(change: ChangeKey) -> Params:
    return [change.kind.value, change.member_id, change.other_id, timezone.now()]


@lru_cache(maxsize=256)
def _bump_and_log_sql(where: str) -> str:
    """One PostgreSQL statement: the bump, and the log's insert riding on it."""
    return (
        f"WITH bumped AS ({_bump_sql(where)} RETURNING id, calc_requested_gen) {_insert_sql()} "
        "SELECT id, calc_requested_gen, %s, %s, %s, %s FROM bumped RETURNING decision_id"
    )


def _bump(where: str, params: Params, change: ChangeKey) -> list[int]:
    """Raise the requested generation of the decisions ``where`` selects and log ``change``
    under each new generation; return their ids (SQLite; PostgreSQL: ``_bump_count_create``).

    The log's rows are written while the decisions' rows are locked, so generations and
    their changes commit together and in order.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"{_bump_sql(where)} RETURNING id, calc_requested_gen", params)
        bumped = cursor.fetchall()
        if bumped:
            logged = _logged(change)
            cursor.executemany(
                f"{_insert_sql()} VALUES (%s, %s, %s, %s, %s, %s)",
                [(pk, generation, *logged) for pk, generation in bumped],
            )
        return sorted(pk for pk, _ in bumped)


def _broadcast_all(calculations: list[Calculation]) -> None:
    for calculation in calculations:
        broadcast(calculation)


class NotBumped(Exception):
    """A decision that had to be bumped was not (closed meanwhile); the transaction is void."""


@lru_cache(maxsize=256)
def _required_log_sql(where: str) -> str:
    """``_bump_and_log_sql`` that fails unless every id in its last parameter was bumped.

    A wanted decision the bump left alone logs a change without a generation, which its
    NOT NULL refuses: the statement fails, and with it the rest of the message (its COMMIT).
    """
    return (
        f"WITH bumped AS ({_bump_sql(where)} RETURNING id, calc_requested_gen) {_insert_sql()} "
        "SELECT wanted.id, bumped.calc_requested_gen, %s, %s, %s, %s "
        "FROM unnest(%s::bigint[]) AS wanted (id) LEFT JOIN bumped USING (id) "
        "RETURNING decision_id"
    )


def _not_bumped(error: IntegrityError) -> bool:
    diag = getattr(error.__cause__, "diag", None)
    return (
        diag is not None
        and diag.table_name == Change._meta.db_table
        and diag.column_name == Change._meta.get_field("generation").column
    )


_INSERTED = [
    field
    for field in Calculation._meta.concrete_fields
    if not field.primary_key and field.attname != "decision_id"
]


# The statements' text depends on ``where`` alone (and the database, one per process): each
# cast would otherwise build it again, quoting every column.
@lru_cache(maxsize=256)
def _queue_sql(where: str) -> str:
    """Give each decision ``where`` selects a QUEUED calculation that counts one more change.

    One upsert on the one-QUEUED-per-decision index: a new calculation (its
    ``change_count`` is 1), or the one waiting, counted up (2 or more), which tells the
    two apart. It runs after the bump, whose row locks make requests for one decision take
    turns, so each sees the calculation the one before created.
    """
    table = connection.ops.quote_name(Calculation._meta.db_table)
    decisions = connection.ops.quote_name(Decision._meta.db_table)
    names = ", ".join(connection.ops.quote_name(field.column) for field in _INSERTED)
    values = ", ".join(["%s"] * len(_INSERTED))
    # The index's own condition, word for word: SQLite infers a partial index only so.
    return (
        f"INSERT INTO {table} (decision_id, {names}) SELECT id, {values} FROM {decisions} "
        f"WHERE {where} ON CONFLICT (decision_id) WHERE status = '{QUEUED}' "
        f"DO UPDATE SET change_count = {table}.change_count + 1 RETURNING {columns(Calculation)}"
    )


_TRIGGER, _REQUESTED_AT = (
    next(i for i, field in enumerate(_INSERTED) if field.attname == name)
    for name in ("trigger", "requested_at")
)


def _queue_params(trigger: str) -> Params:
    """Return a new QUEUED calculation's column values, as ``_queue_sql`` inserts them."""
    params = list(_queue_defaults(connection.vendor))
    params[_TRIGGER] = trigger[:250]
    params[_REQUESTED_AT] = _INSERTED[_REQUESTED_AT].get_db_prep_save(timezone.now(), connection)
    return params


@cache
def _queue_defaults(vendor: str) -> tuple[Any, ...]:
    # Each cast queues: building a model and preparing its every field cost it 3% of its CPU.
    fresh = Calculation(trigger="")
    return tuple(
        field.get_db_prep_save(getattr(fresh, field.attname), connection) for field in _INSERTED
    )


def _queued(rows: list[list[Calculation]]) -> tuple[dict[int, Calculation], list[Calculation]]:
    """Split ``_queue_sql``'s calculations into those that were waiting (by decision) and new."""
    calculations = [calc for (calc,) in rows]
    created = [calc for calc in calculations if calc.change_count == 1]
    return {calc.decision_id: calc for calc in calculations if calc.change_count > 1}, created


def _bump_and_queue(
    where: str,
    params: Params,
    change: ChangeKey,
    trigger: str,
    *,
    required: list[int] | None,
    commit: bool,
) -> tuple[list[int], dict[int, Calculation], list[Calculation]]:
    """Bump and log, then queue (``_queue_sql``), in one message; PostgreSQL only.

    Sent one by one, each statement waited, with the decision's row locked, for this thread
    to read the last answer and send the next: in a busy server it waits for the GIL, and
    every other ballot on the decision waits for the row. In one message PostgreSQL runs
    them back to back, and with ``commit`` the COMMIT too: the row is locked only while
    PostgreSQL works. The upsert is a statement of its own, so its snapshot is taken once
    the bump holds the row. It selects the decisions ``where`` selected (the bump locked
    their rows). With ``required`` (ids) the message fails with ``NotBumped`` unless each
    was bumped.
    """
    logged = [*_logged(change), *([] if required is None else [required])]
    with connection.cursor() as cursor:
        message = _message(cursor, where, required=required is not None, commit=commit)
        try:
            cursor.execute(message, [*params, *logged, *_queue_params(trigger), *params])
        except IntegrityError as error:
            if required is not None and _not_bumped(error):
                raise NotBumped(required) from error
            raise
        ids = sorted(pk for (pk,) in cursor.fetchall())
        cursor.nextset()
        existing, created = _queued(instances((Calculation,), cursor.fetchall()))
    return ids, existing, created


BUMP_STATEMENT = "crowdvote_bump"


def _message(cursor: CursorWrapper, where: str, *, required: bool, commit: bool) -> str:
    """Return the last message: the bump, the queue's upsert and maybe the COMMIT.

    Its statements are prepared (``core.prepared``): planned afresh each time, the upsert's
    plan alone was a fifth of the time the decision's row stayed locked.
    """
    bump = _required_log_sql(where) if required else _bump_and_log_sql(where)
    statements = [
        execute_sql(cursor, BUMP_STATEMENT, bump),
        execute_sql(cursor, "crowdvote_queue", _queue_sql(where)),
        *(["COMMIT"] if commit else []),
    ]
    return "; ".join(statements)


def commits_with_bump() -> bool:
    """Whether a cast that owns its transaction commits in its bump's message.

    PostgreSQL only. Elsewhere a transaction around the caller's whole request costs less
    (SQLite: one ``IMMEDIATE`` transaction, the reads in it, rather than a read transaction
    per statement, then the write one).
    """
    return connection.vendor == "postgresql"


def _selected(
    community_id: int, decision_ids: Iterable[int] | None, open_only: bool
) -> tuple[str, Params, list[int]]:
    """Return the ``WHERE`` for the decisions to bump, its parameters and the ids named."""
    if decision_ids is None:
        return "community_id = %s AND status = %s", [community_id, OPEN], []
    wanted = sorted(set(decision_ids))
    # The usual case, a ballot: the decisions named, unless a draft (or another community's).
    marks = ", ".join(["%s"] * len(wanted))
    where = f"community_id = %s AND status <> %s AND id IN ({marks})"
    params: Params = [community_id, DecisionStatus.DRAFT.value, *wanted]
    if open_only:
        # PostgreSQL re-checks this on the row it waited for: a close that committed while
        # the bump waited for the row's lock leaves it unbumped.
        where += " AND status = %s AND closes_at > %s"
        params += [OPEN, timezone.now()]
    return where, params, wanted


def request_recalculation(
    *,
    community_id: int,
    trigger: str,
    change: ChangeKey = WHOLE,
    actor: str = "-",
    decision_ids: Iterable[int] | None = None,
    open_only: bool = False,
    commit: bool = False,
) -> list[Calculation]:
    """Ask for a recalculation of the community's open decisions, or of ``decision_ids``.

    Runs in the caller's transaction. ``change`` names the rows that changed (by default:
    read the decision whole). Returns the queued calculation of each decision: an existing
    QUEUED one absorbs this request (bursts coalesce into one pending calculation).

    With ``open_only`` a named decision that is not open (closed meanwhile, past its
    closing time) is not bumped: the bump is also the caller's lock and check (a ballot).
    SQLite leaves it out of the answer; PostgreSQL raises ``NotBumped``, its transaction
    void. ``commit`` says this is the last write of a transaction the caller owns: on
    PostgreSQL it commits in the bump's message, so the decisions' rows are locked for
    well under a millisecond.
    """
    where, params, wanted = _selected(community_id, decision_ids, open_only)
    if decision_ids is not None and not wanted:
        return []
    with transaction.atomic(savepoint=False):  # joins the caller's transaction, if any
        # Updating the rows first locks them (PostgreSQL), so concurrent requests for one
        # decision queue up here and each sees the other's QUEUED calculation.
        if commits_with_bump():
            required = wanted if open_only else None
            ids, existing, created = _bump_and_queue(
                where, params, change, trigger, required=required, commit=commit
            )
        elif ids := _bump(where, params, change):
            marks = ", ".join(["%s"] * len(ids))
            existing, created = _queued(
                all_of(
                    (Calculation,), _queue_sql(f"id IN ({marks})"), [*_queue_params(trigger), *ids]
                )
            )
        else:
            existing, created = {}, []
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
