"""Real concurrent transactions: threads, each on its own connection, released together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import pytest
from django.db import connection, connections

T = TypeVar("T")

NEEDS_POSTGRES = (
    "needs PostgreSQL (SQLite serialises every write): run with "
    "DATABASE_URL=postgres://…, as `make test`'s PostgreSQL pass does"
)


def require_postgres() -> None:
    """Skip the test, saying why, unless the test database is PostgreSQL."""
    if connection.vendor != "postgresql":
        pytest.skip(NEEDS_POSTGRES)


def run_together(count: int, work: Callable[[int], T]) -> list[T | Exception]:
    """Run ``work(0)`` … ``work(count - 1)`` in threads that start at the same instant.

    Each thread opens its own database connection before the barrier, so the transactions
    really overlap; what each returns or raises is collected in order.
    """
    pool = connection.settings_dict.get("OPTIONS", {}).get("pool")
    if isinstance(pool, dict) and pool.get("max_size", count) < count:
        pytest.fail(
            f"{count} threads each hold a connection at once, but the pool holds "
            f"{pool['max_size']}: run with DATABASE_POOL_MAX={count} or more (make test does)"
        )
    barrier = threading.Barrier(count)
    outcomes: list[T | Exception] = [RuntimeError("did not run")] * count

    def run(index: int) -> None:
        try:
            connection.ensure_connection()
            barrier.wait(timeout=30)
            outcomes[index] = work(index)
        except Exception as error:  # noqa: BLE001 - the test inspects every outcome
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes
