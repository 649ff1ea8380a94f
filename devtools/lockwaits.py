"""How long ballots wait for locks, sampled from PostgreSQL while a benchmark casts.

Every few milliseconds a separate connection counts the benchmark database's backends that
wait for a lock (``pg_stat_activity.wait_event_type = 'Lock'``); in a storm on one decision
that is its row. By Little's law the mean number waiting, divided by the ballots per second,
is the mean time a ballot waited. The share of samples in which someone waited, divided by
the same rate, is time during which the row was wanted by another ballot: a lower bound on
how long each ballot held it (a holder nobody waits for is not seen).

With ``table`` named, each sample also asks ``pgrowlocks`` whether a row of it is locked
for update: the share of samples in which one is, divided by the rate, is how long the row
was locked per ballot, by anyone. The share in which the holder was running a statement
that starts as ``holder`` (a cast's last message) is the time the ballots themselves held
it. Without the extension (a contrib module) these figures are left out.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Self

import psycopg

WAITING = """SELECT count(*) FILTER (WHERE wait_event_type = 'Lock') FROM pg_stat_activity
  WHERE datname = current_database() AND pid <> pg_backend_pid()"""
# Share locks (a ballot's, a foreign key's check) exclude no other share lock: only the
# others count. Several lockers at once show as a MultiXact, whose members' modes read
# without the "For".
SHARED = "ARRAY['For Key Share', 'For Share', 'Key Share', 'Share']"
LOCKED = f"""SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT FROM pg_stat_activity a
    WHERE a.pid = ANY(r.pids) AND a.query LIKE %s))
  FROM pgrowlocks(%s) r WHERE NOT r.modes <@ {SHARED}"""


@dataclass(frozen=True, slots=True)
class LockWaits:
    samples: int
    mean_waiting: float
    contended_share: float
    held_share: float | None = None
    held_by_holder_share: float | None = None

    def per_ballot_ms(self, ballots_per_second: float) -> dict[str, float | None]:
        """Return the mean wait and the time contended, held, and held by the holder named,
        per ballot, in milliseconds (None: not sampled)."""

        def per_ballot(share: float | None) -> float | None:
            if share is None:
                return None
            if ballots_per_second <= 0:
                return 0.0
            return round(1000 * share / ballots_per_second, 2)

        return {
            "waited": per_ballot(self.mean_waiting),
            "contended": per_ballot(self.contended_share),
            "held": per_ballot(self.held_share),
            "held_by_holder": per_ballot(self.held_by_holder_share),
        }


class LockWaitSampler:
    """Samples lock waits on ``database_url`` (and locks on ``table``'s rows) while entered."""

    def __init__(
        self,
        database_url: str,
        interval: float = 0.005,
        table: str | None = None,
        holder: str = "",
    ) -> None:
        self._url = database_url
        self._interval = interval
        self._table = table
        escaped = holder.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        self._holder = f"{escaped}%"
        self._stop = threading.Event()
        self._counts: list[int] = []
        self._locked: list[tuple[int, int]] = []
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
                table = self._table if self._table and _row_locks(connection) else None
                while not self._stop.is_set():
                    row = connection.execute(WAITING).fetchone()
                    self._counts.append(int(row[0]) if row else 0)
                    if table:
                        locked = connection.execute(LOCKED, [self._holder, table]).fetchone()
                        self._locked.append((locked[0], locked[1]) if locked else (0, 0))
                    time.sleep(self._interval)
        except BaseException as error:  # noqa: BLE001 - reported by result()
            self._failure = error

    def result(self) -> LockWaits:
        """Return what was sampled; raise what stopped the sampling."""
        if self._failure is not None:
            raise RuntimeError(f"sampling lock waits failed: {self._failure}")
        counts, locked = self._counts, self._locked
        if not counts:
            return LockWaits(0, 0.0, 0.0)
        return LockWaits(
            samples=len(counts),
            mean_waiting=sum(counts) / len(counts),
            contended_share=sum(1 for count in counts if count) / len(counts),
            held_share=sum(1 for any_, _ in locked if any_) / len(locked) if locked else None,
            held_by_holder_share=(
                sum(1 for _, holder in locked if holder) / len(locked) if locked else None
            ),
        )


def _row_locks(connection: psycopg.Connection) -> bool:
    """Install ``pgrowlocks`` if it is not; return whether it is there."""
    try:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pgrowlocks")
    except psycopg.Error:
        return False
    return True
