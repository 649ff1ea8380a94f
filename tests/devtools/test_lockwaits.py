"""devtools.lockwaits: lock waits sampled from a real PostgreSQL while one backend waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from devtools.benchsetup import postgres_url, temporary_database
from devtools.lockwaits import LockWaits, LockWaitSampler
from tests.e2e.conftest import skip_or_fail


@pytest.fixture
def database() -> Iterator[str]:
    admin = postgres_url()
    try:
        psycopg.connect(admin, connect_timeout=3).close()
    except psycopg.Error as error:
        skip_or_fail(f"PostgreSQL is not reachable at {admin}: {error}", test="lock waits")
    with temporary_database(admin, "crowdvote_lockwaits") as url:
        with psycopg.connect(url, autocommit=True) as setup:
            setup.execute("CREATE TABLE decision (id int PRIMARY KEY, generation int)")
            setup.execute("INSERT INTO decision VALUES (1, 0)")
        yield url


def test_a_backend_waiting_for_a_row_is_seen_waiting(database: str) -> None:
    with psycopg.connect(database) as holder, psycopg.connect(database) as waiter:
        holder.execute("UPDATE decision SET generation = generation + 1 WHERE id = 1")
        bump = threading.Thread(
            target=lambda: (
                waiter.execute("UPDATE decision SET generation = generation + 1 WHERE id = 1"),
                waiter.commit(),
            )
        )
        bump.start()
        time.sleep(0.1)  # the second bump is waiting for the row
        with LockWaitSampler(database, interval=0.002) as sampler:
            time.sleep(0.3)
        holder.commit()
        bump.join(timeout=10)

    waits = sampler.result()
    assert waits.samples > 10
    assert waits.mean_waiting == pytest.approx(1.0)
    assert waits.contended_share == pytest.approx(1.0)


def test_nobody_waiting_samples_no_wait(database: str) -> None:
    with LockWaitSampler(database, interval=0.002) as sampler:
        time.sleep(0.1)

    waits = sampler.result()
    assert waits.samples > 5
    assert (waits.mean_waiting, waits.contended_share) == (0.0, 0.0)


def test_a_sampler_that_cannot_connect_says_so() -> None:
    with LockWaitSampler("postgresql://nobody@127.0.0.1:1/none") as sampler:
        pass
    with pytest.raises(RuntimeError, match="sampling lock waits failed"):
        sampler.result()


def test_waits_per_ballot_follow_littles_law() -> None:
    waits = LockWaits(samples=100, mean_waiting=1.5, contended_share=0.6)

    assert waits.per_ballot_ms(150.0) == (10.0, 4.0)
    assert waits.per_ballot_ms(0.0) == (0.0, 0.0)
    assert LockWaits(0, 0.0, 0.0).per_ballot_ms(10.0) == (0.0, 0.0)
