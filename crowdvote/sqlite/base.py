"""Django's SQLite backend: one write at a time per process, in arrival order.

SQLite allows one writer. Left to its busy handler, fifty threads that want to write poll the
lock with growing sleeps, and an unlucky one can lose every round until its timeout expires
("database is locked") while the others get through. Queueing writers in a FIFO inside the
process serves them in order instead: every transaction takes a ticket before its
``BEGIN IMMEDIATE``, and so does every write statement run outside a transaction (a
``save()`` or an ``update()`` in autocommit), which would otherwise poll behind the queue for
seconds.

What counts as a write: every statement but a ``SELECT`` or an ``EXPLAIN`` (comments aside).
``WITH … INSERT``, DDL, ``PRAGMA`` and ``VACUUM`` queue; so does ``WITH … SELECT``, which
only costs it a wait. Queueing a read costs time; missing a write would cost the fairness.

Django has no public hook for "a transaction begins" or "ends", so this relies on internals of
``django.db.backends.sqlite3.base`` (Django 5.2, pinned in pyproject; a test fails if they
go):

- ``DatabaseWrapper._start_transaction_under_autocommit``: where the outermost ``atomic()``
  issues ``BEGIN``; the ticket is taken just before it.
- ``DatabaseWrapper._commit`` and ``_rollback``: where every transaction ends, by
  ``atomic()`` or by hand; the ticket is given back after them (and in ``close``, for a
  connection closed mid-transaction).
- ``SQLiteCursorWrapper``, subclassed and installed by ``create_cursor``, to see each
  statement before it runs.

A transaction that only reads needs no turn: ``read_transaction()`` gives one consistent
snapshot (a deferred ``BEGIN``) without holding writers back, which matters when the read
takes seconds (a calculation reading a large community).

Limits: the queue is per process; other processes still meet SQLite's busy timeout. A
transaction Django did not open (a raw ``BEGIN``, or sqlite3's implicit one after
``set_autocommit(False)``) takes no ticket and competes through the busy timeout.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError


class FairLock:
    """A lock that hands itself to the longest waiter; ``acquire`` gives up after a timeout."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._locked = False

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._locked:
                self._locked = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=timeout):
            return True
        with self._mutex:
            if turn in self._waiters:
                self._waiters.remove(turn)
                return False
        return True  # Handed over just as the wait timed out: it is ours.

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # Ownership passes on; still locked.
            else:
                self._locked = False


WRITERS = FairLock()
READ_STATEMENTS = ("SELECT", "EXPLAIN")
LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*|/\*.*?\*/)*", re.DOTALL)


def is_write(query: str) -> bool:
    """Whether ``query`` may write: anything but a ``SELECT`` or an ``EXPLAIN``."""
    keyword = LEADING_COMMENTS.sub("", query, count=1)[:8].upper()
    return not keyword.startswith(READ_STATEMENTS)


class QueuedWritesCursor(base.SQLiteCursorWrapper):
    """A cursor whose write statements outside a transaction wait their turn."""

    owner: DatabaseWrapper

    def execute(self, query: str, params: Any = None) -> Any:
        with self.owner.autocommit_write_turn(query):
            return super().execute(query, params)

    def executemany(self, query: str, param_list: Any) -> Any:
        with self.owner.autocommit_write_turn(query):
            return super().executemany(query, param_list)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.holds_writer_turn = False

    def create_cursor(self, name: str | None = None) -> QueuedWritesCursor:
        cursor = self.connection.cursor(factory=QueuedWritesCursor)
        cursor.owner = self
        return cursor

    def _take_writer_turn(self) -> None:
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        if not WRITERS.acquire(timeout):
            raise OperationalError("database is locked (waited for other writers in this process)")

    @contextmanager
    def autocommit_write_turn(self, query: str) -> Iterator[None]:
        """Hold a writer's turn around ``query`` if it writes outside a transaction."""
        if self.holds_writer_turn or self.in_atomic_block or not self.get_autocommit():
            yield
            return
        if not is_write(query):
            yield
            return
        self._take_writer_turn()
        try:
            yield
        finally:
            WRITERS.release()

    @contextmanager
    def read_transaction(self) -> Iterator[None]:
        """Run the block's reads in one snapshot (a deferred ``BEGIN``), taking no writer's
        turn: in WAL mode writers go on meanwhile, and the block does not see them.

        For reads only; inside another transaction the block simply joins it.
        """
        if self.in_atomic_block or not self.get_autocommit():
            yield
            return
        self.ensure_connection()
        self.connection.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            self.connection.execute("ROLLBACK")  # nothing to keep: it only read

    def _start_transaction_under_autocommit(self) -> None:
        self._take_writer_turn()
        self.holds_writer_turn = True
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self._release_writer_turn()
            raise

    def _release_writer_turn(self) -> None:
        if self.holds_writer_turn:
            self.holds_writer_turn = False
            WRITERS.release()

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]
        finally:
            self._release_writer_turn()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]
        finally:
            self._release_writer_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release_writer_turn()
