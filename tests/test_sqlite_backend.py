"""The embedded SQLite backend serves writers in arrival order and never waits forever.

Ordering is made certain with events, not sleeps: ``watch_queue`` lets a test wait until the
n-th writer has joined the lock's queue before it starts the next one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.db.backends.sqlite3 import base as django_sqlite

from crowdvote.sqlite.base import WRITERS, FairLock, is_write
from democracy.models import Community
from tests.factories import CommunityFactory


class WatchedQueue(deque[threading.Lock]):
    """A waiters' queue that tells whoever asks when someone joins it."""

    def __init__(self) -> None:
        super().__init__()
        self.joined = threading.Condition()
        self.arrivals = 0

    def append(self, waiter: threading.Lock) -> None:
        with self.joined:
            super().append(waiter)
            self.arrivals += 1
            self.joined.notify_all()

    def wait_for_arrivals(self, count: int) -> None:
        with self.joined:
            assert self.joined.wait_for(lambda: self.arrivals >= count, timeout=5), (
                f"{self.arrivals} of {count} writers queued"
            )


def watch_queue(lock: FairLock, monkeypatch: pytest.MonkeyPatch) -> WatchedQueue:
    queue = WatchedQueue()
    monkeypatch.setattr(lock, "_waiters", queue)
    return queue


def in_thread(target: Callable[[], object]) -> threading.Thread:
    """Start ``target`` in a thread that closes its database connections when done."""

    def run() -> None:
        try:
            target()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_lock_is_handed_to_waiters_in_arrival_order(monkeypatch):
    lock = FairLock()
    queue = watch_queue(lock, monkeypatch)
    assert lock.acquire(timeout=1)
    order: list[int] = []

    def wait(n: int) -> None:
        assert lock.acquire(timeout=5)
        order.append(n)
        lock.release()

    threads = []
    for n in range(5):
        threads.append(threading.Thread(target=wait, args=(n,)))
        threads[-1].start()
        queue.wait_for_arrivals(n + 1)  # Queued before the next one arrives.
    lock.release()
    for thread in threads:
        thread.join(timeout=5)
    assert order == [0, 1, 2, 3, 4]


def test_a_waiter_gives_up_after_its_timeout_and_leaves_the_queue():
    lock = FairLock()
    assert lock.acquire(timeout=1)
    started = time.monotonic()
    assert lock.acquire(timeout=0.1) is False
    assert time.monotonic() - started >= 0.1
    lock.release()
    assert lock.acquire(timeout=0.1)  # Nobody stale is queued ahead.
    lock.release()


@pytest.mark.parametrize(
    ("query", "writes"),
    [
        ("SELECT 1", False),
        ("  select * from t", False),
        ("/* a tool's note */ SELECT 1", False),
        ("-- a note\nSELECT 1", False),
        ("EXPLAIN QUERY PLAN SELECT 1", False),
        ('INSERT INTO "t" VALUES (1)', True),
        ("update t set x = 1", True),
        ("DELETE FROM t", True),
        ("REPLACE INTO t VALUES (1)", True),
        ("WITH new(x) AS (SELECT 1) INSERT INTO t SELECT x FROM new", True),
        ("CREATE TABLE t (x integer)", True),
        ("DROP TABLE t", True),
        ("ALTER TABLE t ADD COLUMN y integer", True),
        ("PRAGMA user_version = 3", True),
        ("VACUUM", True),
        # Might write as far as a first keyword can tell: queued, which only costs a wait.
        ("WITH old(x) AS (SELECT 1) SELECT x FROM old", True),
    ],
)
def test_anything_but_a_select_counts_as_a_write(query: str, writes: bool):
    assert is_write(query) is writes


def test_embedded_database_uses_the_queueing_backend():
    assert type(connections["default"]).__module__ == "crowdvote.sqlite.base"


@pytest.mark.parametrize(
    "hook", ["_start_transaction_under_autocommit", "_commit", "_rollback", "create_cursor"]
)
def test_the_django_internals_it_relies_on_are_still_there(hook: str):
    """If Django renames one, the queue would silently stop queueing: fail here instead."""
    assert callable(getattr(django_sqlite.DatabaseWrapper, hook, None))
    assert issubclass(django_sqlite.SQLiteCursorWrapper, django_sqlite.Database.Cursor)


@pytest.mark.django_db(transaction=True)
def test_write_transactions_release_their_turn():
    for _ in range(3):
        with transaction.atomic():
            CommunityFactory()

    def fail_inside() -> None:
        with transaction.atomic():
            CommunityFactory()
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail_inside()
    assert connection.holds_writer_turn is False  # type: ignore[attr-defined]


@pytest.fixture
def turn_held(transactional_db):
    """Hold the writers' turn in another thread (a transaction that has written) until the
    test is done; yields the queue's watcher."""
    holding, release = threading.Event(), threading.Event()
    community = CommunityFactory(name="Before")

    def hold_the_turn() -> None:
        with transaction.atomic():
            Community.objects.filter(pk=community.pk).update(description="held")
            holding.set()
            release.wait(timeout=10)

    holder = in_thread(hold_the_turn)
    assert holding.wait(timeout=5)
    yield community, release
    release.set()
    holder.join(timeout=10)


def test_a_write_outside_a_transaction_queues_in_arrival_order_too(turn_held, monkeypatch):
    """A save() in autocommit takes a turn like a transaction; polling, it could lose for
    seconds to transactions that keep arriving."""
    community, release = turn_held
    queue = watch_queue(WRITERS, monkeypatch)
    order: list[str] = []

    def autocommit_write() -> None:
        Community.objects.filter(pk=community.pk).update(name="Autocommit")
        order.append("autocommit")

    def later_transaction() -> None:
        with transaction.atomic():
            Community.objects.filter(pk=community.pk).update(name="Transaction")
        order.append("transaction")

    threads = []
    for arrived, target in enumerate((autocommit_write, later_transaction), start=1):
        threads.append(in_thread(target))
        queue.wait_for_arrivals(arrived)
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert order == ["autocommit", "transaction"]
    assert Community.objects.get(pk=community.pk).name == "Transaction"


@pytest.mark.parametrize(
    "statements",
    [
        [
            """WITH new(name) AS (SELECT 'From a CTE')
               INSERT INTO democracy_community (name, description, auto_approve_applications,
                 tie_break_policy, results_are_public, created_at)
               SELECT name, '', 1, 'LOT', 0, datetime('now') FROM new"""
        ],
        ["CREATE TABLE queued_ddl (x integer)", "DROP TABLE queued_ddl"],
        [("UPDATE democracy_community SET description = %s", [("a",), ("b",)])],
    ],
    ids=["with-insert", "ddl", "executemany"],
)
def test_writes_a_prefix_sniffer_would_miss_wait_their_turn(turn_held, monkeypatch, statements):
    _, release = turn_held
    queue = watch_queue(WRITERS, monkeypatch)
    done = threading.Event()

    def write() -> None:
        with connection.cursor() as cursor:
            for statement in statements:
                if isinstance(statement, tuple):
                    cursor.executemany(*statement)
                else:
                    cursor.execute(statement)
        done.set()

    writer = in_thread(write)
    queue.wait_for_arrivals(1)  # It waits behind the held turn instead of polling SQLite.
    assert not done.is_set()
    release.set()
    writer.join(timeout=10)
    assert done.is_set()


def test_a_read_outside_a_transaction_does_not_queue(turn_held, monkeypatch):
    community, _ = turn_held
    queue = watch_queue(WRITERS, monkeypatch)
    assert Community.objects.get(pk=community.pk).name == "Before"
    assert queue.arrivals == 0


def test_a_writer_that_waits_past_its_timeout_gets_a_clear_error(turn_held, monkeypatch):
    community, release = turn_held
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.1)
    with pytest.raises(OperationalError, match="waited for other writers in this process"):
        Community.objects.filter(pk=community.pk).update(name="Impatient")
    release.set()
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 10)
    Community.objects.filter(pk=community.pk).update(name="Patient")  # Nobody stale ahead.


def test_a_read_transaction_takes_no_turn_and_reads_one_moment(transactional_db, monkeypatch):
    """A calculation's long read must not hold writers back, nor see them mid-read."""
    community = CommunityFactory(name="Before")
    queue = watch_queue(WRITERS, monkeypatch)
    with connection.read_transaction():  # type: ignore[attr-defined]
        assert Community.objects.get(pk=community.pk).name == "Before"

        def write() -> None:
            try:
                with transaction.atomic():
                    Community.objects.filter(pk=community.pk).update(name="After")
            finally:
                connection.close()

        writer = in_thread(write)
        writer.join(timeout=10)
        assert not writer.is_alive()  # it got its turn while the read went on
        assert Community.objects.get(pk=community.pk).name == "Before"  # the same moment
    assert queue.arrivals == 0  # the writer never had to wait: the read held no turn
    assert connection.holds_writer_turn is False  # type: ignore[attr-defined]
    assert Community.objects.get(pk=community.pk).name == "After"
