"""Run calculations: claim a decision, snapshot it, resolve, tally, store, broadcast.

Every step is idempotent and guarded by a lease on the decision row, so any number of
workers may be woken for the same decision: one calculates, the others return at once.
The lease is short and a heartbeat renews it while the calculation runs, so a killed
worker's decision is taken over within seconds; the completion is fenced by the lease, so
a worker that lost it (stalled, then woke up) cannot store its result over a newer one.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from calc.broadcast import broadcast
from calc.calculation_input import input_read
from calc.calculation_rows import (
    calculation_due,
    changes_waiting,
    decision_locked,
    decisions_due_at,
    generation_completed,
    generation_stamped,
    lease_live,
    queued_absorb,
    queued_start,
    snapshot_ready,
    status_leased,
)
from calc.kept import Kept, kept_states
from calc.models import RUNNING, Calculation, CalculationStatus
from calc.result_json import result_to_json
from calc.results import resolution_keep
from calc.snapshot import collector_paused
from core.logs import Event, duration, log_event
from democracy.models import Choice, Decision, DecisionStatus

SYSTEM = "system"
RETRY = "Retry after a failure"
FOUND_WAITING = "Changes found waiting"
logger = logging.getLogger(__name__)


def worker_name() -> str:
    """Return this process's name in leases and calculation rows."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaseLost(Exception):
    """Another worker took the decision over after this one's lease expired."""


@dataclass(frozen=True, slots=True)
class Lease:
    decision_id: int
    owner: str

    def renew(self) -> None:
        """Extend the lease while it is still live, or raise ``LeaseLost``.

        An expired lease is not revived even if nobody took it yet: the sweeper may already
        count this worker as gone and have failed its calculation.
        """
        now = timezone.now()
        renewed = Decision.objects.filter(
            pk=self.decision_id, calc_lease_owner=self.owner, calc_lease_until__gte=now
        ).update(calc_lease_until=now + timedelta(seconds=settings.CALC_LEASE_SECONDS))
        if not renewed:
            raise self.lost()

    def check(self) -> None:
        """Raise ``LeaseLost`` unless the lease is still live.

        What a calculation asks before its completion, while the heartbeat extends the lease
        (its stage changes ask it in their writes): a read, where a renewal would lock the
        decision's row that ballots queue for, and commit.
        """
        if not lease_live(self.decision_id, self.owner, timezone.now()):
            raise self.lost()

    def lost(self) -> LeaseLost:
        """The error to raise once the lease turned out expired or taken over."""
        return LeaseLost(f"lease on decision {self.decision_id} expired or was taken over")

    def release(self) -> None:
        Decision.objects.filter(pk=self.decision_id, calc_lease_owner=self.owner).update(
            calc_lease_owner="", calc_lease_until=None
        )

    def holds(self, decision: Decision) -> bool:
        """Whether ``decision`` (read under its row lock) still shows this live lease."""
        until = decision.calc_lease_until
        return (
            decision.calc_lease_owner == self.owner
            and until is not None
            and until >= timezone.now()
        )


@contextmanager
def lease_heartbeat(lease: Lease) -> Iterator[None]:
    """Renew ``lease`` every ``CALC_HEARTBEAT_SECONDS`` from a thread while the block runs.

    A calculation may spend longer than the lease in one stage; the heartbeat keeps a live
    worker's claim while the lease stays short enough for a dead one's to run out soon.
    The thread stops at the first lost renewal: the calculation's checks between its stages
    and the fenced completion then fail it.
    """
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.CALC_HEARTBEAT_SECONDS):
                try:
                    lease.renew()
                except LeaseLost:
                    return
                except Exception:  # noqa: BLE001 - a database hiccup: the next beat tries again.
                    logger.warning("Lease heartbeat of decision %s failed", lease.decision_id)
        finally:
            connection.close()  # This thread's own connection.

    thread = threading.Thread(target=beat, name=f"lease-{lease.decision_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _lease_free(now: object) -> Q:
    return Q(calc_lease_until__isnull=True) | Q(calc_lease_until__lt=now)


def lease_claim(decision_id: int, owner: str) -> Lease | None:
    """Take the decision's lease if it is free (or expired); None if someone holds it.

    Each claim gets its own token, so a holder whose lease was taken over loses it even
    when the new holder is a thread of the same process.
    """
    now = timezone.now()
    until = now + timedelta(seconds=settings.CALC_LEASE_SECONDS)
    token = f"{owner[:110]}#{secrets.token_hex(4)}"
    claimed = (
        Decision.objects.filter(pk=decision_id)
        .filter(_lease_free(now))
        .update(calc_lease_owner=token, calc_lease_until=until)
    )
    return Lease(decision_id, token) if claimed else None


def _set_status(calculation: Calculation, status: CalculationStatus, lease: Lease) -> None:
    # The lease's check rides in the write: one round trip where a check and a save took two.
    now = timezone.now()
    if not status_leased(calculation.pk, status.value, lease.decision_id, lease.owner, now):
        raise lease.lost()
    calculation.status = status
    broadcast(calculation)


def _start(decision_id: int, owner: str) -> Calculation:
    """Turn the QUEUED calculation (or a new one for a sweeper retry) into CREATING.

    Without the decision's row lock, which ballots share (``calc.calculation_rows``). With
    no QUEUED one, the sweeper found a failed calculation to retry, or changes logged
    without one (written by hand, or by an older version).
    """
    now = timezone.now()
    calculation = queued_start(decision_id, owner, now)
    if calculation is None:
        failures = Decision.objects.values_list("calc_failures", flat=True).get(pk=decision_id)
        calculation = Calculation.objects.create(
            decision_id=decision_id,
            trigger=RETRY if failures else FOUND_WAITING,
            status=CalculationStatus.CREATING,
            started_at=now,
            worker=owner,
            retry_count=failures,
        )
    broadcast(calculation)
    return calculation


def _complete(
    calculation: Calculation,
    status: DecisionStatus,
    generation: int,
    choices: list[Choice],
    lease: Lease,
) -> bool:
    """Store the result; return whether changes arrived while it was calculated."""
    absorbed: Calculation | None = None
    try:
        with transaction.atomic():
            calculation.is_final = False
            calculation.status = CalculationStatus.COMPLETED
            calculation.finished_at = timezone.now()
            assert calculation.started_at is not None
            elapsed = calculation.finished_at - calculation.started_at
            calculation.duration_ms = int(elapsed.total_seconds() * 1000)
            # The result, the largest write, before the decision's row is locked: a lost
            # lease below rolls it back with the rest.
            calculation.save(
                update_fields=["is_final", "status", "finished_at", "duration_ms", "results"]
            )
            decision = decision_locked(calculation.decision_id)
            if not lease.holds(decision):
                # The fence: checked under the row lock every completion takes, so a worker
                # whose lease ran out never stores a result, however late it wakes up.
                raise lease.lost()
            if status == DecisionStatus.CLOSED:
                _final_mark(calculation)
            keeper = kept_states.channel if status == DecisionStatus.OPEN else ""
            generation_completed(calculation.decision_id, generation, keeper)
            # The lock waited for changes in flight: any not stamped came after the snapshot.
            overtaken = decision.calc_requested_gen > generation or changes_waiting(
                calculation.decision_id
            )
            if not overtaken:
                # Requests that arrived between the claim and the snapshot were absorbed by a
                # QUEUED calculation this snapshot already covers; left QUEUED, it would absorb
                # the next request too, and that request would wake nobody. Its ID was handed
                # to a client, so it stays, saying which calculation covered it.
                absorbed = queued_absorb(calculation)
    except Exception:
        calculation.status, calculation.is_final = CalculationStatus.TALLYING, False
        raise
    broadcast(calculation, choices)
    if absorbed is not None:
        broadcast(absorbed)
    return overtaken


def _final_mark(calculation: Calculation) -> None:
    """Make a closed decision's first completed result its final one (under the row lock)."""
    earlier = Calculation.objects.filter(decision_id=calculation.decision_id, is_final=True)
    if not earlier.exists():
        calculation.is_final = True
        calculation.save(update_fields=["is_final"])


def _gathering_wait(kept: Kept | None) -> float:
    """Seconds to wait so a burst of changes gathers into one snapshot.

    ``CALC_DEBOUNCE_MS`` apart from the previous calculation's end: in a burst the next
    calculation waits that long, while a change after a quiet spell starts at once (the
    time since the last result already counts) and a burst behind it gathers while it runs.
    With no state kept nothing is known of the last calculation, so the whole wait applies.

    In a storm (changes arrived while the last calculation ran) calculations are spaced so
    that they take at most ``CALC_STORM_SHARE`` of the time: a decision whose calculation
    takes 100 ms, at the default 0.25, gets a new result every 400 ms, and the ballots cast
    meanwhile get the CPU the calculations would have taken. A slower machine or a larger
    decision spaces them further. However cheap they are, they start at most every
    ``CALC_STORM_INTERVAL_MS`` (250): a result a quarter of a second is fresh enough to
    watch, and each one is sent to every viewer. A lone change after a result is not in a
    storm.
    """
    debounce = settings.CALC_DEBOUNCE_MS / 1000
    if kept is None:
        return debounce
    spacing = debounce
    if kept.overtaken:
        shared = kept.took * (1 / settings.CALC_STORM_SHARE - 1)
        spacing = max(debounce, shared, settings.CALC_STORM_INTERVAL_MS / 1000 - kept.took)
    return spacing - kept.since_finished()


def calculation_run(decision_id: int, lease: Lease) -> Calculation:
    """Calculate one generation of a decision under ``lease``; record and re-raise failures.

    From the state this worker kept of the decision when it has one (reading only what
    changed since), else from the decision read whole.
    """
    calculation = _start(decision_id, lease.owner)
    kept = kept_states.take(decision_id)
    try:
        wait = _gathering_wait(kept)
        if wait > 0:
            time.sleep(wait)
        began = started = time.perf_counter()
        generation_stamped(decision_id, calculation)
        read = input_read(decision_id, kept)
        elapsed = time.perf_counter() - started
        calculation.generation = read.generation
        calculation.content_hash = read.content_hash
        with transaction.atomic():
            # The lease is checked in the write, before the snapshot (the largest write) is
            # stored; lost, the row and this copy stay CREATING, the stage its failure is in.
            if not snapshot_ready(calculation, lease.owner, timezone.now()):
                raise lease.lost()
            stored = read.store(calculation)
        broadcast(calculation)
        columns = read.columns
        changes = calculation.change_count
        log_event(
            Event.SNAPSHOT_CREATED,
            SYSTEM,
            f"Snapshot of decision {decision_id} for calculation {calculation.pk}: "
            f"{len(columns.member_ids)} members, {columns.follow_src.size} followings, "
            f"{columns.ballot_member.size} direct ballots; generation {read.generation} "
            f"({changes} change{'s' if changes != 1 else ''}), {read.read_as} in "
            f"{duration(elapsed)}",
        )

        _set_status(calculation, CalculationStatus.STAGING, lease)
        log_event(
            Event.STAGING_START, SYSTEM, f"Resolving ballots for calculation {calculation.pk}"
        )
        started = time.perf_counter()
        state = read.solve()
        resolved = state.resolved
        log_event(
            Event.STAGING_COMPLETE,
            SYSTEM,
            f"Calculation {calculation.pk}: "
            f"{int(resolved.counted.sum())} ballots counted, "
            f"{int(resolved.is_delegated.sum())} delegated, resolved and tallied "
            f"({state.last_mode}) in {duration(time.perf_counter() - started)}",
        )

        # The engine tallies as it resolves; this stage writes the result down.
        _set_status(calculation, CalculationStatus.TALLYING, lease)
        log_event(Event.TALLY_START, SYSTEM, f"Tallying calculation {calculation.pk}")
        started = time.perf_counter()
        result = state.result
        calculation.results = result_to_json(result)
        winner = (state.choice_titles or {}).get(result.winner or "", "no winner")
        log_event(
            Event.TALLY_COMPLETE,
            SYSTEM,
            f"Calculation {calculation.pk}: winner "
            f"'{winner}', {duration(time.perf_counter() - started)}",
        )
        lease.check()
        choices = list(Choice.objects.filter(decision_id=decision_id))
        overtaken = _complete(calculation, read.status, read.generation, choices, lease)
        took = time.perf_counter() - began
        resolution_keep(calculation, state.columns, resolved)
        if read.status == DecisionStatus.OPEN:
            kept_states.put(decision_id, Kept(state, read.generation, stored, took, overtaken))
        return calculation
    except Exception as error:
        calculation_fail(calculation, error)
        raise


def calculation_fail(
    calculation: Calculation, error: BaseException, *, retry_at_once: bool = False
) -> None:
    """Record a failed calculation and schedule the decision's retry with backoff.

    The row changes only if it is still in the stage this copy saw, so a late failure (a
    sweeper's, a lost lease's) never overwrites a result that completed meanwhile.
    ``retry_at_once`` skips the first backoff (a dead worker is no fault of the decision);
    later failures in a row back off as usual.
    """
    stage = calculation.status
    message = "".join(traceback.format_exception_only(error)).strip()[:4000]
    now = timezone.now()
    failed = Calculation.objects.filter(pk=calculation.pk, status=stage).update(
        status=CalculationStatus.FAILED, failed_stage=stage, finished_at=now, error=message
    )
    if not failed:
        return
    if isinstance(error, LeaseLost):
        # The decision is someone else's now: its retries are theirs to count.
        calculation.status, calculation.failed_stage = CalculationStatus.FAILED, stage
        calculation.finished_at, calculation.error = now, message
        broadcast(calculation)
        log_event(
            Event.CALC_FAILED,
            SYSTEM,
            f"Calculation {calculation.pk} of decision {calculation.decision_id} "
            f"abandoned in {stage}: {message}",
            level=logging.WARNING,
        )
        return
    failures = (
        Decision.objects.filter(pk=calculation.decision_id)
        .values_list("calc_failures", flat=True)
        .first()
        or 0
    )
    failures += 1
    backoff = settings.CALC_RETRY_BACKOFF_SECONDS * 2 ** (failures - 1)
    if retry_at_once and failures == 1:
        backoff = 0
    Decision.objects.filter(pk=calculation.decision_id).update(
        calc_failures=failures, calc_retry_at=now + timedelta(seconds=backoff)
    )
    Calculation.objects.filter(pk=calculation.pk).update(retry_count=failures - 1)
    calculation.failed_stage = stage
    calculation.status = CalculationStatus.FAILED
    calculation.finished_at = now
    calculation.error = message
    calculation.retry_count = failures - 1
    broadcast(calculation)
    log_event(
        Event.CALC_FAILED,
        SYSTEM,
        f"Calculation {calculation.pk} of decision "
        f"{calculation.decision_id} failed in {calculation.failed_stage}: "
        f"{calculation.error} (failure {failures}, retry in {backoff:.0f}s)",
        level=logging.ERROR,
    )


def decision_calculate(decision_id: int, owner: str | None = None) -> list[Calculation]:
    """Bring a decision up to date if nobody else is calculating it; return what ran.

    Loops while changes keep arriving, so a burst gives one running and one pending
    calculation at most.
    """
    lease = lease_claim(decision_id, owner or worker_name())
    if lease is None:
        return []
    done: list[Calculation] = []
    try:
        with lease_heartbeat(lease):
            while calculation_due(decision_id, timezone.now()):
                with collector_paused():
                    done.append(calculation_run(decision_id, lease))
    finally:
        lease.release()
    return done


def decisions_due() -> list[int]:
    """Return decisions that need a calculation nobody is running (the sweeper's list)."""
    return decisions_due_at(timezone.now(), settings.CALC_RETRY_LIMIT)


def calculations_fail_stuck() -> int:
    """Mark running calculations whose worker no longer holds a live lease as FAILED.

    A live worker's heartbeat renews its lease, so a running calculation without one was
    left by a worker that died or hung; one that still holds it is never touched, so it
    cannot be marked failed and then completed. Each is checked again under the decision's
    row lock: a renewal that was waiting for that lock (behind ballots being cast) is seen.
    The decision is retried at once, so a healthy worker takes over within seconds.
    """
    now = timezone.now()
    orphaned = (
        Q(decision__calc_lease_until__isnull=True)
        | Q(decision__calc_lease_until__lt=now)
        | ~Q(decision__calc_lease_owner=F("worker"))
    )
    stuck = Calculation.objects.filter(status__in=RUNNING).filter(orphaned)
    count = 0
    for calculation in stuck:
        with transaction.atomic():
            decision = Decision.objects.select_for_update().get(pk=calculation.decision_id)
            lease = Lease(decision.pk, calculation.worker)
            if lease.holds(decision):
                continue
            lease.release()  # Revoked: a renewal still on its way finds nothing to renew.
        calculation_fail(
            calculation, TimeoutError("the worker stopped responding"), retry_at_once=True
        )
        count += 1
    return count
