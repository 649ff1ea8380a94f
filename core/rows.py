"""Read rows by hand-written SQL where building the ORM query costs more than running it.

Every API request authenticates its token, and every ballot loads its decision, choices and
membership: through the ORM each of these lookups spent several times as much Python on
building and compiling the query (0.3-0.8 ms) as running it and making its rows into model
instances here takes. The SQL is written for PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model
from django.db.models.expressions import Col

from core.prepared import execute_sql

M = TypeVar("M", bound=Model)


def table(model: type[Model]) -> str:
    """Return the quoted table name of ``model``."""
    return connections[DEFAULT_DB_ALIAS].ops.quote_name(model._meta.db_table)


def columns(model: type[Model], alias: str | None = None) -> str:
    """Return the list of every column of ``model`` (under ``alias``), in field order.

    Without ``alias`` the names stand alone, as ``RETURNING`` takes them.
    """
    return _columns(model, alias, connections[DEFAULT_DB_ALIAS].vendor)


def first_of(
    models: Sequence[type[Model]], sql: str, params: Sequence[Any], *, prepared: str = ""
) -> list[Any]:
    """Return the first row of ``sql`` as one instance per model, or [] if it has none.

    ``sql`` selects ``columns(model, alias)`` of each model in turn (a join reads several
    in one statement). Values are converted as the ORM converts them.
    """
    found = all_of(models, sql, params, first=True, prepared=prepared)
    return found[0] if found else []


def all_of(
    models: Sequence[type[Model]],
    sql: str,
    params: Sequence[Any],
    *,
    first: bool = False,
    prepared: str = "",
) -> list[list[Any]]:
    """Return every row of ``sql`` (or only the ``first``) as one instance per model."""
    return instances(models, all_rows(sql, params, first=first, prepared=prepared))


def all_rows(
    sql: str, params: Sequence[Any], *, first: bool = False, prepared: str = ""
) -> Sequence[Sequence[Any]]:
    """Return the rows of ``sql`` (or only the ``first``) as the database gives them.

    With ``prepared`` (a name prefix) PostgreSQL plans ``sql`` once per connection
    (``core.prepared``): only for a statement whose best plan does not change as its
    tables grow, such as a lookup by a unique key.
    """
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(execute_sql(cursor, prepared, sql) if prepared else sql, params)
        return cursor.fetchmany(1) if first else cursor.fetchall()


def width(model: type[Model]) -> int:
    """Return how many columns ``columns(model)`` lists."""
    return len(_fields(model, connections[DEFAULT_DB_ALIAS].vendor)[0])


def instances(models: Sequence[type[Model]], fetched: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Return rows already fetched (``columns`` of each model in turn) as model instances.

    A model whose primary key is NULL (an outer join that matched nothing) reads as None.
    """
    if not fetched:
        return []
    connection = connections[DEFAULT_DB_ALIAS]
    # Looked up per call: a converter may be bound to this thread's connection.
    readings = []
    for model in models:
        names, converted, pk = _fields(model, connection.vendor)
        converters = [
            (
                index,
                col,
                [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)],
            )
            for index, col in converted
        ]
        readings.append((model, names, converters, pk))
    instances = []
    objects: list[Model | None]
    for row in fetched:
        start, objects = 0, []
        for model, names, converters, pk in readings:
            values = list(row[start : start + len(names)])
            start += len(names)
            if values[pk] is None:
                objects.append(None)
                continue
            for index, col, functions in converters:
                for convert in functions:
                    values[index] = convert(values[index], col, connection)
            objects.append(model.from_db(connection.alias, names, values))
        instances.append(objects)
    return instances


@cache
def _columns(model: type[Model], alias: str | None, vendor: str) -> str:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    prefix = f"{quote(alias)}." if alias else ""
    return ", ".join(f"{prefix}{quote(f.column)}" for f in model._meta.concrete_fields)


@cache
def _fields(model: type[Model], vendor: str) -> tuple[list[str], list[tuple[int, Col]], int]:
    """Return the attribute names of ``model``'s columns, which of them need converting, and
    where its primary key is."""
    connection = connections[DEFAULT_DB_ALIAS]
    fields = model._meta.concrete_fields
    converted = []
    for index, field in enumerate(fields):
        col = field.get_col(model._meta.db_table)
        if connection.ops.get_db_converters(col) or col.get_db_converters(connection):
            converted.append((index, col))
    return [f.attname for f in fields], converted, fields.index(model._meta.pk)
