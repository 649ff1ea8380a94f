"""The embedded SQLite backend serves writers in arrival order and never waits forever."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from crowdvote.sqlite.base import FairLock


def test_the_lock_is_handed_to_waiters_in_arrival_order():
    lock = FairLock()
    assert lock.acquire(timeout=1)
    order: list[int] = []

    def wait(n: int) -> None:
        assert lock.acquire(timeout=5)
        order.append(n)
        lock.release()

    threads = []
    for n in range(5):
        thread = threading.Thread(target=wait, args=(n,))
        thread.start()
        threads.append(thread)
        time.sleep(0.02)  # Arrive one after another.
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


def test_embedded_database_uses_the_queueing_backend():
    from django.db import connections

    assert type(connections["default"]).__module__ == "crowdvote.sqlite.base"


@pytest.mark.django_db(transaction=True)
def test_write_transactions_release_their_turn():
    from django.db import transaction

    from tests.factories import CommunityFactory

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
