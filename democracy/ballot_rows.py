"""Write a ballot's rows in as few statements as a storm of ballots can afford.

A cast is the hot path of a busy decision: each statement costs a round trip and, through
the ORM, more Python than the database spends on it. So the ballot is one upsert and its
stars one insert, in SQL that PostgreSQL and SQLite (3.35+) both take. ``ballot_star_once``
and ``ballot_once`` are the unique constraints these statements rely on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.db import connection

from core.rows import all_of, columns
from democracy.models import Ballot, BallotStar


def _table(model: type[Ballot] | type[BallotStar]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def ballot_upsert(
    *, decision_id: int, membership_id: int, tags: list[str], comment: str, now: datetime
) -> tuple[Ballot, bool]:
    """Insert the member's ballot or update the one they have; return it and whether it is new.

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
    ((ballot,),) = all_of(
        (Ballot,),
        f"INSERT INTO {_table(Ballot)} "
        "(decision_id, membership_id, tags, comment, cast_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (decision_id, membership_id) DO UPDATE SET tags = excluded.tags, "
        f"comment = excluded.comment, updated_at = excluded.updated_at RETURNING {columns(Ballot)}",
        params,
    )
    return ballot, ballot.cast_at == ballot.updated_at


def stars_replace(ballot_id: int, rated: Mapping[int, int], *, replacing: bool) -> None:
    """Store ``rated`` (stars by choice id) as the ballot's stars, dropping any it had."""
    table = _table(BallotStar)
    with connection.cursor() as cursor:
        if replacing:
            cursor.execute(f"DELETE FROM {table} WHERE ballot_id = %s", [ballot_id])
        if rated:
            rows = ", ".join(["(%s, %s, %s)"] * len(rated))
            params = [value for item in rated.items() for value in (ballot_id, *item)]
            cursor.execute(
                f"INSERT INTO {table} (ballot_id, choice_id, stars) VALUES {rows}", params
            )
