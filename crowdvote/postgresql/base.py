"""Django's PostgreSQL backend, reading ``timestamptz`` values with psycopg's own loader.

Django reads every timestamp through a subclass of psycopg's pure-Python loader, there only
to give the value the connection's time zone. That parse took 7.4 µs a value on a 2-core
machine against 0.7 µs through psycopg's C loader, and a ballot reads about ten (its token,
user, decision, community and membership; the worker then reads each ballot's two).

With ``USE_TZ`` Django sets each session's time zone to the connection's on connect, and
psycopg gives values in the session's time zone: the same values, ``tzinfo`` object
included. Without ``USE_TZ`` Django wants naive values, and its own loader stays.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import cache
from typing import Any, cast

import psycopg
from django.db.backends.postgresql import base
from psycopg import abc
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import AdaptersMap, Loader
from psycopg.pq import Format

TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid
# The C one where psycopg's binary build is installed; psycopg registers one for each of
# its built-in types.
PSYCOPG_LOADER = cast("type[abc.Loader]", psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT))


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if self.timezone is not None:
            params["context"] = adapters_reading_in(self.timezone, params["context"])
        return params


@cache
def adapters_reading_in(zone: tzinfo, django_adapters: AdaptersMap) -> AdaptersMap:
    """Return Django's adapters with psycopg's ``timestamptz`` loader, labelled ``zone``."""
    adapters = AdaptersMap(django_adapters)
    adapters.register_loader(TIMESTAMPTZ_OID, _loader_labelled(zone))
    return adapters


def _loader_labelled(zone: tzinfo) -> type[Loader]:
    class TimestamptzLoader(Loader):
        # Django's create_cursor compares this with the connection's time zone, and
        # registers its own loader on the cursor when they differ.
        timezone = zone

        def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
            super().__init__(oid, context)
            self._psycopg = PSYCOPG_LOADER(oid, context)

        def load(self, data: Buffer) -> datetime:
            return self._psycopg.load(data)

    return TimestamptzLoader
