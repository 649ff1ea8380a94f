"""Write a ballot's rows in as few statements as a storm of ballots can afford.

A cast is the hot path of a busy decision: each statement costs a round trip and, through
the ORM, more Python than the database spends on it. A ballot that rates every choice is one
statement on PostgreSQL (a data-modifying ``WITH``); otherwise, and on SQLite, which has no
such statement, the same upserts go one by one. Stars are upserted rather than deleted and
inserted again: a replaced ballot's rows are updated in place, its indexes left alone.
``ballot_star_once`` and ``ballot_once`` are the unique constraints these rely on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from core.ahead import Ahead
from core.prepared import execute_sql
from core.rows import all_of, columns, instances
from democracy.models import Ballot, BallotStar

Params = list[Any]


def _table(model: type[Ballot] | type[BallotStar]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@dataclass(frozen=True, slots=True)
class BallotWrite:
    """A member's ballot to store: ``rated`` is its stars by choice id, and ``every_choice``
    says whether it names every choice of the decision (else a star left out is dropped)."""

    decision_id: int
    membership_id: int
    tags: list[str]
    comment: str
    now: datetime
    rated: Mapping[int, int]
    every_choice: bool


def ballot_write(write: BallotWrite) -> tuple[Ballot, bool]:
    """Store the member's ballot; return it and whether it is new."""
    ahead = ballot_ahead(write)
    if ahead is not None:
        with connection.cursor() as cursor:
            ahead.send(cursor)
        return ballot_of(ahead)
    ((ballot,),) = all_of((Ballot,), *_ballot_upsert(write))
    created = ballot.cast_at == ballot.updated_at
    rated = write.rated
    with connection.cursor() as cursor:
        if rated:
            rows = ", ".join(["(%s, %s, %s)"] * len(rated))
            triples = [value for item in rated.items() for value in (ballot.pk, *item)]
            cursor.execute(_stars_upsert(f"VALUES {rows}"), triples)
        if not (created or write.every_choice):
            # A statement of its own, after the upsert: it must see the stars of a cast by
            # the same member that committed while the upsert waited for the ballot's row.
            sql = f"DELETE FROM {_table(BallotStar)} WHERE ballot_id = %s"
            if rated:
                sql += f" AND choice_id NOT IN ({', '.join(['%s'] * len(rated))})"
            cursor.execute(sql, [ballot.pk, *rated])
    return ballot, created


def ballot_ahead(write: BallotWrite) -> Ahead | None:
    """Return ``ballot_write``'s work as one statement another message may carry
    (``ballot_of`` reads its rows); None where it takes more than one.

    One statement on PostgreSQL, for a ballot that rates every choice: it upserts the ballot
    and its stars together. Only when nothing is to be deleted: a statement's snapshot is
    taken before its upsert waits for a concurrent cast of the same member, so a ``DELETE``
    in it would miss the stars that cast commits meanwhile. ``ON CONFLICT`` sees them, and
    updates them.
    """
    rated = write.rated
    if connection.vendor != "postgresql" or not (write.every_choice and rated):
        return None
    ballot_sql, ballot_params = _ballot_upsert(write)
    # Typed: prepared, a VALUES list outside an INSERT would be text.
    pairs = ", ".join(["(%s::bigint, %s::smallint)"] * len(rated))
    stars = _stars_upsert(f"SELECT id, v.* FROM saved, (VALUES {pairs}) v")
    sql = f"WITH saved AS ({ballot_sql}), rated AS ({stars}) SELECT {columns(Ballot)} FROM saved"
    with connection.cursor() as cursor:
        sent = execute_sql(cursor, "crowdvote_ballot_write", sql)
    return Ahead(sent, [*ballot_params, *(value for item in rated.items() for value in item)])


def ballot_of(ahead: Ahead) -> tuple[Ballot, bool]:
    """Return the ballot ``ballot_ahead``'s statement wrote, and whether it is new."""
    assert ahead.rows is not None, "the ballot's statement was not sent"
    ((ballot,),) = instances((Ballot,), ahead.rows)
    return ballot, ballot.cast_at == ballot.updated_at


def _ballot_upsert(write: BallotWrite) -> tuple[str, Params]:
    """Insert the member's ballot or update the one they have, returning it.

    The updated row stays locked to the end of the transaction (PostgreSQL), so the same
    member's casts at once replace one another in turn; a first ballot cast twice at once
    becomes an insert and an update, never a unique-constraint error. Only a new row gets
    ``cast_at = updated_at``, which tells the two apart.
    """
    fields = Ballot._meta
    params = [
        write.decision_id,
        write.membership_id,
        fields.get_field("tags").get_db_prep_save(write.tags, connection),
        write.comment,
        fields.get_field("cast_at").get_db_prep_save(write.now, connection),
        fields.get_field("updated_at").get_db_prep_save(write.now, connection),
    ]
    sql = (
        f"INSERT INTO {_table(Ballot)} "
        "(decision_id, membership_id, tags, comment, cast_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (decision_id, membership_id) DO UPDATE SET tags = excluded.tags, "
        f"comment = excluded.comment, updated_at = excluded.updated_at RETURNING {columns(Ballot)}"
    )
    return sql, params


def _stars_upsert(rows: str) -> str:
    """Insert ``rows`` (ballot, choice, stars) as stars, or update the stars already there."""
    return (
        f"INSERT INTO {_table(BallotStar)} (ballot_id, choice_id, stars) {rows} "
        "ON CONFLICT (ballot_id, choice_id) DO UPDATE SET stars = excluded.stars"
    )
