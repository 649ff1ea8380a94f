"""A statement one layer hands another, to ride at the head of that layer's message.

On PostgreSQL several statements sent as one message with no ``BEGIN`` run as one implicit
transaction: all of them commit together, or none does. A cast's ballot is democracy's
write and its change log calc's; carried in calc's message, the ballot costs neither a
round trip of its own nor the ``BEGIN`` and ``COMMIT`` around them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.backends.utils import CursorWrapper


@dataclass(slots=True)
class Ahead:
    """A statement ready to send (``sql`` with its ``%s`` ``params``), and its rows once
    sent, by whoever carried it or by its owner."""

    sql: str
    params: list[Any]
    rows: Sequence[Sequence[Any]] | None = None

    @property
    def sent(self) -> bool:
        return self.rows is not None

    def send(self, cursor: CursorWrapper) -> None:
        """Send it alone (nobody carried it)."""
        cursor.execute(self.sql, self.params)
        self.rows = cursor.fetchall()
