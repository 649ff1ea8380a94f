"""Statements PostgreSQL plans once per connection: ``PREPARE``, then ``EXECUTE`` by name.

For a statement sent where every microsecond counts (one that runs while a hot row is
locked), planning it each time is a large share of its cost. Prepared in SQL rather than by
the driver's protocol, it can still ride in a multi-statement message with others and a
``COMMIT``. A prepared statement lives as long as its session and survives a rollback, so
what was prepared is remembered per driver connection, which a pool hands from one request
to the next; a new connection prepares again.

A pooler that moves transactions between server sessions (PgBouncer's transaction mode)
would lose them: ``DATABASE_PREPARED_STATEMENTS`` off sends the statements as written.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

from django.conf import settings
from django.db.backends.utils import CursorWrapper

_prepared: WeakKeyDictionary[Any, set[str]] = WeakKeyDictionary()
_PLACEHOLDER = re.compile(r"%s")


@lru_cache(maxsize=512)
def statement_name(prefix: str, sql: str) -> str:
    """Return the name ``sql`` is prepared under: ``prefix`` and a digest of the text."""
    return f"{prefix}_{hashlib.sha256(sql.encode()).hexdigest()[:16]}"


@lru_cache(maxsize=512)
def _prepare_sql(name: str, sql: str) -> str:
    numbers = iter(range(1, sql.count("%s") + 1))
    return f"PREPARE {name} AS {_PLACEHOLDER.sub(lambda _: f'${next(numbers)}', sql)}"


def execute_sql(cursor: CursorWrapper, prefix: str, sql: str) -> str:
    """Return ``EXECUTE`` of ``sql`` (its ``%s`` parameters in order), preparing it on
    ``cursor``'s connection first if this connection has not yet.

    The ``EXECUTE`` takes the same parameters as ``sql``; send it as part of any message.
    With ``DATABASE_PREPARED_STATEMENTS`` off, or on another database than PostgreSQL,
    ``sql`` itself.
    """
    if not settings.DATABASE_PREPARED_STATEMENTS or cursor.db.vendor != "postgresql":
        return sql
    name = statement_name(prefix, sql)
    raw = cursor.db.connection
    prepared = _prepared.setdefault(raw, set())
    if name not in prepared:
        cursor.execute(_prepare_sql(name, sql))
        prepared.add(name)
    marks = ", ".join(["%s"] * sql.count("%s"))
    return f"EXECUTE {name}({marks})" if marks else f"EXECUTE {name}"
