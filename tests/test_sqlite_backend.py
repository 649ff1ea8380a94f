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


@pytest.mark.django_db(transaction=True)
def test_a_write_outside_a_transaction_queues_in_arrival_order_too():
    """A save() in autocommit takes a turn like a transaction; polling, it could lose for
    seconds to transactions that keep arriving."""
    from django.db import connections, transaction

    from democracy.models import Community
    from tests.factories import CommunityFactory

    community = CommunityFactory(name="Before")
    holding, release = threading.Event(), threading.Event()
    order: list[str] = []

    def hold_the_turn() -> None:
        with transaction.atomic():
            Community.objects.filter(pk=community.pk).update(description="held")
            holding.set()
            release.wait(timeout=5)
        connections.close_all()

    def autocommit_write() -> None:
        Community.objects.filter(pk=community.pk).update(name="Autocommit")
        order.append("autocommit")
        connections.close_all()

    def later_transaction() -> None:
        with transaction.atomic():
            Community.objects.filter(pk=community.pk).update(name="Transaction")
        order.append("transaction")
        connections.close_all()

    threads = [threading.Thread(target=hold_the_turn)]
    threads[0].start()
    assert holding.wait(timeout=5)
    for target in (autocommit_write, later_transaction):
        threads.append(threading.Thread(target=target))
        threads[-1].start()
        time.sleep(0.1)  # Arrive one after the other.
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert order == ["autocommit", "transaction"]
    assert Community.objects.get(pk=community.pk).name == "Transaction"
