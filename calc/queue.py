"""Ask for recalculation: a change appended to the decision's log, a QUEUED calculation,
and a wake-up call after commit.

The logged change is the request; the channel message only wakes a worker sooner. A lost
message is recovered by the sweeper (calc.worker), which looks for decisions with changes
waiting, or whose stamped generation is ahead of their completed one. Nothing here
updates the decision's row: changes to one decision take its row's share lock only, so a
storm of ballots never queues on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
from core.ahead import Ahead
from core.logs import Event, log_event
from core.prepared import execute_sql
from core.rows import all_of, all_rows, columns, instances
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


def _quoted(model: type[Decision] | type[Change] | type[Calculation]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _insert_sql() -> str:
    return (
        f"INSERT INTO {_quoted(Change)} "
        "(decision_id, generation, kind, member_id, other_id, created_at)"
    )


def _logged(change: ChangeKey, now: datetime) -> Params:
    return [change.kind.value, change.member_id, change.other_id, now]


@lru_cache(maxsize=256)
def _log_sql(where: str) -> str:
    """Append ``change`` to the log of each decision ``where`` selects (SQLite).

    SQLite's one writer at a time orders it against a close and a worker's stamp.
    """
    return (
        f"{_insert_sql()} SELECT id, NULL, %s, %s, %s, %s FROM {_quoted(Decision)} "
        f"WHERE {where} RETURNING decision_id"
    )


@lru_cache(maxsize=256)
def _shared_log_sql(where: str, *, required: bool) -> str:
    """``_log_sql`` under a key-share lock on each decision's row (PostgreSQL).

    Shared, so changes to one decision never wait for each other, nor for a worker's lease
    renewals (plain updates). A close, a manager's request and a worker's stamp and
    completion lock the row ``FOR UPDATE``, so they wait for the changes in flight, and a
    change waits for them (and then sees a closed decision as closed): whatever changes a
    decision's status must lock it so first, as ``democracy.services.decisions`` does. With
    ``required``
    it fails unless every id in its last parameter was open to change: a wanted decision
    the lock's ``WHERE`` left out logs a change without a decision, which its NOT NULL
    refuses, and the rest of the message (its COMMIT) with it.
    """
    locked = f"WITH open AS (SELECT id FROM {_quoted(Decision)} WHERE {where} FOR KEY SHARE) "
    if not required:
        return (
            f"{locked}{_insert_sql()} SELECT id, NULL, %s, %s, %s, %s FROM open "
            "RETURNING decision_id"
        )
    return (
        f"{locked}{_insert_sql()} SELECT open.id, NULL, %s, %s, %s, %s "
        "FROM unnest(%s::bigint[]) AS wanted (id) LEFT JOIN open USING (id) "
        "RETURNING decision_id"
    )


def _log(where: str, params: Params, change: ChangeKey, now: datetime) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(_log_sql(where), [*_logged(change, now), *params])
        return sorted(pk for (pk,) in cursor.fetchall())


def _broadcast_all(calculations: list[Calculation]) -> None:
    for calculation in calculations:
        broadcast(calculation)


class NotLogged(Exception):
    """A decision that had to take a change was not open (closed meanwhile); the
    transaction is void."""


def _not_logged(error: IntegrityError) -> bool:
    diag = getattr(error.__cause__, "diag", None)
    return (
        diag is not None
        and diag.table_name == Change._meta.db_table
        and diag.column_name == Change._meta.get_field("decision").column
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
    """Give each decision ``where`` selects a QUEUED calculation, unless it has one.

    Nothing is updated when one is waiting: a row every change counted into would be a
    row every change waits for. Nor is an insert attempted (``NOT EXISTS``): PostgreSQL
    checks the row's every constraint before the conflict stops it, and in a storm every
    change finds one waiting. A QUEUED one this statement's snapshot sees but a worker has
    just started is no loss: its stamp waits for this change's lock on the decision, so it
    counts the change. ``ON CONFLICT`` still guards against two changes inserting at once.
    Returns the calculations it created.
    """
    table = _quoted(Calculation)
    names = ", ".join(connection.ops.quote_name(field.column) for field in _INSERTED)
    values = ", ".join(["%s"] * len(_INSERTED))
    # The index's own condition, word for word: SQLite infers a partial index only so.
    return (
        f"INSERT INTO {table} (decision_id, {names}) SELECT id, {values} "
        f"FROM {_quoted(Decision)} WHERE {where} AND NOT EXISTS (SELECT 1 FROM {table} q "
        f"WHERE q.decision_id = {_quoted(Decision)}.id AND q.status = '{QUEUED}') "
        f"ON CONFLICT (decision_id) WHERE status = '{QUEUED}' DO NOTHING "
        f"RETURNING {columns(Calculation)}"
    )


@lru_cache(maxsize=256)
def _newest_sql(where: str) -> str:
    """The newest calculation of each decision ``where`` selects, with the changes waiting
    for a stamp: what a QUEUED calculation has gathered so far (this one's included)."""
    table = _quoted(Calculation)
    return (
        f"SELECT {columns(Calculation, 'c')}, (SELECT count(*) FROM {_quoted(Change)} "
        "WHERE decision_id = c.decision_id AND generation IS NULL) "
        f"FROM {table} c WHERE c.id IN (SELECT max(id) FROM {table} WHERE decision_id IN "
        f"(SELECT id FROM {_quoted(Decision)} WHERE {where}) GROUP BY decision_id)"
    )


_TRIGGER, _REQUESTED_AT = (
    next(i for i, field in enumerate(_INSERTED) if field.attname == name)
    for name in ("trigger", "requested_at")
)


def _queue_params(trigger: str, now: datetime) -> Params:
    """Return a new QUEUED calculation's column values, as ``_queue_sql`` inserts them."""
    params = list(_queue_defaults(connection.vendor))
    params[_TRIGGER] = trigger[:250]
    params[_REQUESTED_AT] = _INSERTED[_REQUESTED_AT].get_db_prep_save(now, connection)
    return params


@cache
def _queue_defaults(vendor: str) -> tuple[Any, ...]:
    # Each cast queues: building a model and preparing its every field cost it 3% of its CPU.
    fresh = Calculation(trigger="")
    return tuple(
        field.get_db_prep_save(getattr(fresh, field.attname), connection) for field in _INSERTED
    )


def _newest(rows: Sequence[Sequence[Any]]) -> dict[int, Calculation]:
    """``_newest_sql``'s calculations by decision, a QUEUED one counting what it gathered."""
    newest = {}
    for [calculation], row in zip(instances((Calculation,), rows), rows, strict=True):
        if calculation.status == QUEUED:
            calculation.change_count = max(int(row[-1]), 1)
        newest[calculation.decision_id] = calculation
    return newest


Queued = tuple[list[int], dict[int, Calculation], list[Calculation]]


def _log_and_queue(
    where: str,
    params: Params,
    change: ChangeKey,
    trigger: str,
    now: datetime,
    *,
    required: list[int] | None,
    newest: bool,
    commit: bool = False,
    ahead: Ahead | None = None,
) -> Queued:
    """Log and queue in one message, then maybe read the newest calculations; PostgreSQL.

    Sent one by one, each statement waited, with the decisions' rows share-locked, for this
    thread to read the last answer and send the next; in one message PostgreSQL runs them
    back to back, and with ``commit`` the COMMIT too. Each statement takes its own
    snapshot, so the newest calculation read last includes a QUEUED one that another change
    created and committed while this one's insert waited for it. With ``required`` (ids)
    the message fails with ``NotLogged`` unless each decision was open. With ``ahead`` it
    starts with that statement, and, sent outside a transaction, is one: PostgreSQL runs a
    message of several statements as one, which commits at its end or not at all.
    """
    logged = [*_logged(change, now), *([] if required is None else [required])]
    with connection.cursor() as cursor:
        message = _message(
            cursor, where, required=required is not None, newest=newest, commit=commit
        )
        queued = [*params, *logged, *_queue_params(trigger, now), *params]
        if ahead is not None:
            message = f"{ahead.sql}; {message}"
            queued = [*ahead.params, *queued]
        try:
            cursor.execute(message, [*queued, *params] if newest else queued)
        except IntegrityError as error:
            if required is not None and _not_logged(error):
                raise NotLogged(required) from error
            raise
        if ahead is not None:
            ahead.rows = cursor.fetchall()
            cursor.nextset()
        ids = sorted(pk for (pk,) in cursor.fetchall())
        cursor.nextset()
        created = [calc for (calc,) in instances((Calculation,), cursor.fetchall())]
        if not newest:
            return ids, {}, created
        cursor.nextset()
        return ids, _newest(cursor.fetchall()), created


LOG_STATEMENT = "crowdvote_log"


def _message(
    cursor: CursorWrapper, where: str, *, required: bool, newest: bool, commit: bool
) -> str:
    """Return the last message: the log, the queue, maybe the newest read and the COMMIT.

    The log and the queue are prepared (``core.prepared``): planned afresh each time, they
    were a fifth of the time a change held its decision's row. The newest read is planned
    each time: it counts the waiting changes, and a plan made while the log was small (a
    prepared statement's, once settled) would go on reading the whole log as it grew.
    """
    statements = [
        execute_sql(cursor, LOG_STATEMENT, _shared_log_sql(where, required=required)),
        execute_sql(cursor, "crowdvote_queue", _queue_sql(where)),
        *([_newest_sql(where)] if newest else []),
        *(["COMMIT"] if commit else []),
    ]
    return "; ".join(statements)


def _log_then_queue(
    where: str,
    params: Params,
    change: ChangeKey,
    trigger: str,
    now: datetime,
    *,
    required: list[int] | None,
    newest: bool,
) -> Queued:
    """Log, queue and maybe read the newest calculations statement by statement (SQLite)."""
    ids = _log(where, params, change, now)
    if required is not None and ids != required:
        raise NotLogged(required)
    if not ids:
        return [], {}, []
    where = f"id IN ({', '.join(['%s'] * len(ids))})"
    created = [
        calc
        for (calc,) in all_of(
            (Calculation,), _queue_sql(where), [*_queue_params(trigger, now), *ids]
        )
    ]
    return ids, _newest(all_rows(_newest_sql(where), ids)) if newest else {}, created


def commits_with_log() -> bool:
    """Whether a cast that owns its transaction commits in its log's message.

    PostgreSQL only. Elsewhere a transaction around the caller's whole request costs less
    (SQLite: one ``IMMEDIATE`` transaction, the reads in it, rather than a read transaction
    per statement, then the write one).
    """
    return connection.vendor == "postgresql"


def _selected(
    community_id: int, decision_ids: Iterable[int] | None, open_only: bool, now: datetime
) -> tuple[str, Params, list[int]]:
    """Return the ``WHERE`` for the decisions to change, its parameters and the ids named."""
    if decision_ids is None:
        return "community_id = %s AND status = %s", [community_id, OPEN], []
    wanted = sorted(set(decision_ids))
    # The usual case, a ballot: the decisions named, unless a draft (or another community's).
    marks = ", ".join(["%s"] * len(wanted))
    where = f"community_id = %s AND status <> %s AND id IN ({marks})"
    params: Params = [community_id, DecisionStatus.DRAFT.value, *wanted]
    if open_only:
        # PostgreSQL re-checks this on the row it waited for: a close that committed while
        # the change waited for the row's lock leaves it out.
        where += " AND status = %s AND closes_at > %s"
        params += [OPEN, now]
    return where, params, wanted


def request_recalculation(
    *,
    community_id: int,
    trigger: str,
    change: ChangeKey = WHOLE,
    actor: str = "-",
    decision_ids: Iterable[int] | None = None,
    open_only: bool = False,
    newest: bool = True,
    commit: bool = False,
    ahead: Ahead | None = None,
) -> list[Calculation]:
    """Ask for a recalculation of the community's open decisions, or of ``decision_ids``.

    Runs in the caller's transaction: appends ``change`` (the rows that changed; by
    default, read the decision whole) to each decision's log and makes sure a calculation
    is QUEUED (bursts coalesce into one pending calculation). Returns the newest calculation
    of each decision: the QUEUED one, or one that started since and will include this;
    nothing without ``newest`` (a caller that shows none spares their read).

    With ``open_only`` every named decision must be open (not closed meanwhile, nor past
    its closing time), or ``NotLogged`` is raised and the transaction is void: the log's
    lock is also the caller's check (a ballot). ``commit`` says this is the last write of a
    transaction the caller owns: on PostgreSQL it commits in the log's message. ``ahead``
    (PostgreSQL, outside any transaction) is the caller's write, not yet sent: the log's
    message carries it first and is the whole transaction.
    """
    now = timezone.now()  # the change's and the calculation's: it counts those since
    where, params, wanted = _selected(community_id, decision_ids, open_only, now)
    if decision_ids is not None and not wanted:
        return []
    required = wanted if open_only and decision_ids is not None else None
    if ahead is not None:
        assert commits_with_log(), "only PostgreSQL carries a write ahead of the log"
        # No transaction around it: the message is one, where Django's would cost a BEGIN.
        ids, read, created = _log_and_queue(
            where, params, change, trigger, now, required=required, newest=newest, ahead=ahead
        )
    else:
        with transaction.atomic(savepoint=False):  # joins the caller's transaction, if any
            if commits_with_log():
                ids, read, created = _log_and_queue(
                    where,
                    params,
                    change,
                    trigger,
                    now,
                    required=required,
                    newest=newest,
                    commit=commit,
                )
            else:
                ids, read, created = _log_then_queue(
                    where, params, change, trigger, now, required=required, newest=newest
                )
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
    return [read[pk] for pk in ids] if newest else []
