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


def _held(database: str, holder: str = "") -> LockWaits:
    with LockWaitSampler(database, interval=0.002, table="decision", holder=holder) as sampler:
        time.sleep(0.1)
    return sampler.result()


def test_a_row_held_for_update_is_seen_held_and_a_share_lock_is_not(database: str) -> None:
    with psycopg.connect(database) as holder:
        holder.execute("SELECT * FROM decision WHERE id = 1 FOR KEY SHARE")
        share_only = _held(database).held_share
        holder.execute("UPDATE decision SET generation = generation + 1 WHERE id = 1")
        updating = _held(database).held_share
        holder.commit()
    free = _held(database).held_share

    assert (share_only, updating, free) == (0.0, 1.0, 0.0)


def test_share_locks_held_by_several_at_once_are_not_seen_held(database: str) -> None:
    """Two ballots' share locks on one row make a MultiXact, whose modes read differently."""
    with psycopg.connect(database) as first, psycopg.connect(database) as second:
        first.execute("SELECT * FROM decision WHERE id = 1 FOR SHARE")
        second.execute("SELECT * FROM decision WHERE id = 1 FOR SHARE")
        shared = _held(database).held_share
        with psycopg.connect(database, autocommit=True) as look:
            row = look.execute("SELECT multi FROM pgrowlocks('decision')").fetchone()
        assert row == (True,)
    assert shared == 0.0


def test_the_holder_is_told_apart_by_what_it_runs(database: str) -> None:
    with psycopg.connect(database) as holder:
        holder.execute("UPDATE decision SET generation = generation + 1 WHERE id = 1")
        by_others = _held(database, holder="UPDATE decision SET generation = 0")
        by_it = _held(database, holder="UPDATE decision SET generation = generation")
        holder.commit()

    assert (by_others.held_share, by_others.held_by_holder_share) == (1.0, 0.0)
    assert (by_it.held_share, by_it.held_by_holder_share) == (1.0, 1.0)


def test_without_a_table_no_hold_is_sampled(database: str) -> None:
    with LockWaitSampler(database, interval=0.002) as sampler:
        time.sleep(0.05)
    assert sampler.result().held_share is None


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
    waits = LockWaits(100, 1.5, 0.6, held_share=0.15, held_by_holder_share=0.075)

    assert waits.per_ballot_ms(150.0) == {
        "waited": 10.0,
        "contended": 4.0,
        "held": 1.0,
        "held_by_holder": 0.5,
    }
    assert set(waits.per_ballot_ms(0.0).values()) == {0.0}
    unsampled = LockWaits(0, 0.0, 0.0).per_ballot_ms(10.0)
    assert (unsampled["held"], unsampled["held_by_holder"]) == (None, None)


def test_without_the_extension_the_row_locks_are_left_out(database: str) -> None:
    """A role that may not install ``pgrowlocks`` still samples the waits, not the holds."""
    role = "crowdvote_lockwaits_reader"
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        reader = psycopg.conninfo.make_conninfo(database, user=role)
        with LockWaitSampler(reader, interval=0.002, table="decision") as sampler:
            time.sleep(0.05)
        waits = sampler.result()
    finally:
        with psycopg.connect(database, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")

    assert waits.samples > 5
    assert (waits.held_share, waits.held_by_holder_share) == (None, None)
