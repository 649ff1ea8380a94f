"""How long ballots wait for locks, sampled from PostgreSQL while a benchmark casts.

Every few milliseconds a separate connection counts the benchmark database's backends that
wait for a lock (``pg_stat_activity.wait_event_type = 'Lock'``); in a storm on one decision
that is its row. By Little's law the mean number waiting, divided by the ballots per second,
is the mean time a ballot waited. The share of samples in which someone waited, divided by
the same rate, is time during which the row was wanted by another ballot: a lower bound on
how long each ballot held it (a holder nobody waits for is not seen).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Self

import psycopg

WAITING = """SELECT count(*) FILTER (WHERE wait_event_type = 'Lock') FROM pg_stat_activity
  WHERE datname = current_database() AND pid <> pg_backend_pid()"""


@dataclass(frozen=True, slots=True)
class LockWaits:
    samples: int
    mean_waiting: float
    contended_share: float

    def per_ballot_ms(self, ballots_per_second: float) -> tuple[float, float]:
        """Return the mean wait and the contended time per ballot, in milliseconds."""
        if ballots_per_second <= 0:
            return 0.0, 0.0
        return (
            round(1000 * self.mean_waiting / ballots_per_second, 2),
            round(1000 * self.contended_share / ballots_per_second, 2),
        )


class LockWaitSampler:
    """Samples lock waits on ``database_url`` from ``start()`` until ``stop()``."""

    def __init__(self, database_url: str, interval: float = 0.005) -> None:
        self._url = database_url
        self._interval = interval
        self._stop = threading.Event()
        self._counts: list[int] = []
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="lock-waits", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            with psycopg.connect(self._url, autocommit=True) as connection:
                while not self._stop.is_set():
                    row = connection.execute(WAITING).fetchone()
                    self._counts.append(int(row[0]) if row else 0)
                    time.sleep(self._interval)
        except BaseException as error:  # noqa: BLE001 - reported by result()
            self._failure = error

    def result(self) -> LockWaits:
        """Return what was sampled; raise what stopped the sampling."""
        if self._failure is not None:
            raise RuntimeError(f"sampling lock waits failed: {self._failure}")
        counts = self._counts
        if not counts:
            return LockWaits(0, 0.0, 0.0)
        return LockWaits(
            samples=len(counts),
            mean_waiting=sum(counts) / len(counts),
            contended_share=sum(1 for count in counts if count) / len(counts),
        )
