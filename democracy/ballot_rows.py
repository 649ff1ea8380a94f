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
from datetime import datetime
from typing import Any

from django.db import connection

from core.rows import all_of, columns
from democracy.models import Ballot, BallotStar

Params = list[Any]


def _table(model: type[Ballot] | type[BallotStar]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def ballot_write(
    *,
    decision_id: int,
    membership_id: int,
    tags: list[str],
    comment: str,
    now: datetime,
    rated: Mapping[int, int],
    every_choice: bool,
) -> tuple[Ballot, bool]:
    """Store the member's ballot with ``rated`` (stars by choice id) as its stars; return it
    and whether it is new. A star it had on a choice left out is dropped, unless
    ``every_choice`` says ``rated`` names every choice of the decision."""
    ballot_sql, ballot_params = _ballot_upsert(decision_id, membership_id, tags, comment, now)
    if connection.vendor == "postgresql" and every_choice and rated:
        return _written_at_once(ballot_sql, ballot_params, rated)
    ((ballot,),) = all_of((Ballot,), ballot_sql, ballot_params)
    created = ballot.cast_at == ballot.updated_at
    with connection.cursor() as cursor:
        if rated:
            rows = ", ".join(["(%s, %s, %s)"] * len(rated))
            triples = [value for item in rated.items() for value in (ballot.pk, *item)]
            cursor.execute(_stars_upsert(f"VALUES {rows}"), triples)
        if not (created or every_choice):
            # A statement of its own, after the upsert: it must see the stars of a cast by
            # the same member that committed while the upsert waited for the ballot's row.
            sql = f"DELETE FROM {_table(BallotStar)} WHERE ballot_id = %s"
            if rated:
                sql += f" AND choice_id NOT IN ({', '.join(['%s'] * len(rated))})"
            cursor.execute(sql, [ballot.pk, *rated])
    return ballot, created


def _written_at_once(
    ballot_sql: str, ballot_params: Params, rated: Mapping[int, int]
) -> tuple[Ballot, bool]:
    """Upsert the ballot and every one of its stars in one statement (PostgreSQL).

    Only when nothing is to be deleted: a statement's snapshot is taken before its upsert
    waits for a concurrent cast of the same member, so a ``DELETE`` in it would miss the
    stars that cast commits meanwhile. ``ON CONFLICT`` sees them, and updates them.
    """
    # Typed: prepared, a VALUES list outside an INSERT would be text.
    pairs = ", ".join(["(%s::bigint, %s::smallint)"] * len(rated))
    stars = _stars_upsert(f"SELECT id, v.* FROM saved, (VALUES {pairs}) v")
    ((ballot,),) = all_of(
        (Ballot,),
        f"WITH saved AS ({ballot_sql}), rated AS ({stars}) SELECT {columns(Ballot)} FROM saved",
        [*ballot_params, *(value for item in rated.items() for value in item)],
        prepared="crowdvote_ballot_write",
    )
    return ballot, ballot.cast_at == ballot.updated_at


def _ballot_upsert(
    decision_id: int, membership_id: int, tags: list[str], comment: str, now: datetime
) -> tuple[str, Params]:
    """Insert the member's ballot or update the one they have, returning it.

    The updated row stays locked to the end of the transaction (PostgreSQL), so the same
    member's casts at once replace one another in turn; a first ballot cast twice at once
    becomes an insert and an update, never a unique-constraint error. Only a new row gets
    ``cast_at = updated_at``, which tells the two apart.
    """
    fields = Ballot._meta
    params = [
        decision_id,
        membership_id,
        fields.get_field("tags").get_db_prep_save(tags, connection),
        comment,
        fields.get_field("cast_at").get_db_prep_save(now, connection),
        fields.get_field("updated_at").get_db_prep_save(now, connection),
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
