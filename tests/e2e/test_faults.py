"""Faults in a distributed setup: Redis restarted and a worker SIGKILLed while ballots come in.

The test runs its own redis-server on a spare port (it is killed and started again on the
same port), a daphne server and two `runworker calc` processes on a fresh PostgreSQL
database, and measures how long each fault delays the results (printed; run with ``-s``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from devtools.benchsetup import (
    GraphQLSocket,
    HttpGraphQL,
    ServerProcess,
    distributed_env,
    free_port,
    new_redis_prefix,
    postgres_url,
    services_missing,
    temporary_database,
    wait_for_port,
)
from tests.e2e.conftest import skip_or_fail
from tests.e2e.helpers import RESULTS, Sql, Vote, pk, totals

pytestmark = [pytest.mark.e2e, pytest.mark.distributed, pytest.mark.slow]

VOTERS = [f"voter{i:02d}" for i in range(24)]
OUTAGE_SECONDS = 5.0
# The victim worker waits this long inside each calculation (its lease held, status
# CREATING): long enough to be caught and killed mid-calculation.
VICTIM_DEBOUNCE_MS = "4000"
# The bounds issue 10 asks for, with slack for a loaded 2-core machine.
REDIS_RECOVERY_BOUND = 5.0 + 2.0
KILL_RECOVERY_BOUND = 10.0 + 3.0


@dataclass
class RedisServer:
    """A redis-server of the test's own, killed and started again on the same port."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        log = self.workdir / "redis.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, self.process, log)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    problem = None if shutil.which("redis-server") else "redis-server is not installed"
    if problem is None:
        server.start()
        problem = services_missing(postgres_url(), server.url)
    if problem:
        if server.process is not None:
            server.kill()
        skip_or_fail(problem, test="fault test")
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()


@pytest.fixture
def cluster(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    """Processes on a fresh database and the test's Redis, at the default lease settings."""
    with temporary_database(postgres_url(), prefix="crowdvote_faults") as url:
        env = distributed_env(
            tmp_path, database_url=url, redis_url=redis_server.url, redis_prefix=new_redis_prefix()
        )
        processes = ServerProcess(env=env, workdir=tmp_path)
        processes.manage("migrate", "--no-input")
        try:
            yield processes, url
        finally:
            processes.stop()


class Ballots:
    """Casts ballots one after another from a thread, remembering what each voter cast."""

    def __init__(self, vote: Vote) -> None:
        self.vote = vote
        self.cast: dict[str, tuple[int, int]] = {}
        self.count = 0
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def one(self) -> None:
        name = VOTERS[self.count % len(VOTERS)]
        again = self.count // len(VOTERS)  # Each round changes every voter's stars.
        stars = ((self.count + again) % 6, (self.count * 5 + 2 * again + 2) % 6)
        self.vote.cast(name, *stars)
        self.cast[name] = stars
        self.count += 1

    def expected(self) -> dict[str, Decimal]:
        return {
            "park": Decimal(sum(p for p, _ in self.cast.values())),
            "road": Decimal(sum(r for _, r in self.cast.values())),
        }

    def keep_coming(self, pause: float = 0.15) -> None:
        def run() -> None:
            while not self.stop.is_set():
                self.one()
                time.sleep(pause)

        self.stop.clear()
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def halt(self) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(timeout=30)


def counted(want: dict[str, Decimal]) -> Any:
    return lambda event: totals(event["decisionResults"]) == want


def ws_url(vote: Vote) -> str:
    return str(vote.api.url).replace("http://", "ws://")


def test_results_survive_a_redis_restart_and_a_killed_worker(
    cluster: tuple[ServerProcess, str], redis_server: RedisServer
) -> None:
    processes, database_url = cluster
    api = HttpGraphQL(f"http://127.0.0.1:{processes.start_daphne()}/graphql")
    workers = [processes.start_worker(f"worker-{i}") for i in range(2)]
    vote = Vote(api, processes.tokens("manager", *VOTERS))
    sql = Sql(database_url)
    ballots = Ballots(vote)
    most_running = 0
    sampling = threading.Event()

    def sample() -> None:
        nonlocal most_running
        while not sampling.is_set():
            most_running = max(most_running, sql.running(vote.decision_pk))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    async def scenario() -> dict[str, float]:
        figures: dict[str, float] = {}
        async with GraphQLSocket(ws_url(vote), vote.tokens["manager"]) as socket:
            await socket.subscribe("results", RESULTS, id=vote.decision)
            for _ in range(3):
                await asyncio.to_thread(ballots.one)
            await socket.wait_for("results", counted(ballots.expected()), timeout=30)

            # 1. Redis goes away for a few seconds while ballots keep coming.
            ballots.keep_coming()
            await asyncio.sleep(1)
            redis_server.kill()
            killed_at = time.time()
            await asyncio.sleep(1)
            async with GraphQLSocket(ws_url(vote), vote.tokens["manager"]) as late:
                await late.subscribe("late", RESULTS, id=vote.decision)
                await asyncio.wait_for(_errors_of(late, "late"), 15)
                [[error]] = late.errors["late"]
                assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", error
                assert "try again" in error["message"]
            await asyncio.sleep(max(0.0, killed_at + OUTAGE_SECONDS - time.time()))
            cast_during_outage = ballots.count
            redis_server.start()
            back, back_at = time.perf_counter(), time.time()
            (calculated_meanwhile,) = sql(
                "SELECT COUNT(*) FROM calc_calculation WHERE status = 'COMPLETED' "
                f"AND decision_id = {vote.decision_pk} "
                f"AND finished_at > to_timestamp({killed_at}) "
                f"AND finished_at < to_timestamp({back_at})"
            )[0]
            assert calculated_meanwhile > 0, "no calculation while Redis was away"
            seen = len(socket.events["results"])
            await socket.wait_for_index(
                "results",
                lambda e: e["decisionResults"]["participation"]["countedBallots"] > 0,
                timeout=30,
                start=seen,
            )
            figures["redis_first_result"] = socket.arrivals["results"][seen] - back
            await asyncio.sleep(2)
            ballots.halt()
            index = await socket.wait_for_index(
                "results", counted(ballots.expected()), timeout=30, start=seen
            )
            figures["redis_ballots_after"] = ballots.count - cast_during_outage
            for worker in workers:
                assert worker.poll() is None, "a worker died with Redis"

            # 2. A worker is SIGKILLed mid-calculation; the other one takes over.
            victim = processes.start_worker("victim", CALC_DEBOUNCE_MS=VICTIM_DEBOUNCE_MS)
            deadline = time.monotonic() + 60
            caught: list[tuple[Any, ...]] = []
            while not caught:
                assert time.monotonic() < deadline, "the victim never calculated"
                # Wake-ups go to the worker keeping the decision's state; as if none kept it,
                # they go to the shared channel, where the victim may take one.
                sql(
                    f"UPDATE democracy_decision SET calc_kept_by = '' WHERE id = {vote.decision_pk}"
                )
                await asyncio.to_thread(ballots.one)
                for _ in range(20):
                    caught = sql(
                        "SELECT id FROM calc_calculation WHERE status = 'CREATING' "
                        f"AND decision_id = {vote.decision_pk} AND worker LIKE '%:{victim.pid}#%'"
                    )
                    if caught:
                        break
                    await asyncio.sleep(0.05)
            os.kill(victim.pid, signal.SIGKILL)
            killed = time.perf_counter()
            seen = len(socket.events["results"])
            index = await socket.wait_for_index(
                "results", counted(ballots.expected()), timeout=60, start=seen
            )
            figures["kill_result"] = socket.arrivals["results"][index] - killed
            ((status, error),) = sql(
                f"SELECT status, error FROM calc_calculation WHERE id = {caught[0][0]}"
            )
            assert status == "FAILED", (status, error)
            assert "stopped responding" in error
        return figures

    try:
        figures = asyncio.run(scenario())
    finally:
        sampling.set()
        sampler.join(timeout=5)

    results = vote.results()
    assert results is not None
    assert totals(results) == ballots.expected()
    assert results["participation"]["directBallots"] == len(ballots.cast)
    completed_by = sql(
        f"SELECT worker FROM calc_calculation WHERE id = {pk(results['calculationId'])}"
    )
    assert (
        f":{workers[0].pid}#" in completed_by[0][0] or f":{workers[1].pid}#" in completed_by[0][0]
    )
    assert most_running <= 1, "two calculations of one decision ran at once"
    for index in range(2):
        log = (processes.workdir / f"worker-{index}.log").read_text()
        assert "Traceback" not in log, log
        assert "Exception inside application" not in log, log
        assert log.count("[REDIS_DOWN]") >= 1, log
        assert log.count("[REDIS_BACK]") >= 1, log
        assert log.count("[REDIS_DOWN]") <= 3, log
    for log_path in processes.workdir.glob("daphne-*.log"):
        log = log_path.read_text()
        assert "Traceback" not in log, log
        assert "Exception inside application" not in log, log
        assert log.count("[REDIS_BACK]") == 1, log
    print(
        f"\nRedis outage {OUTAGE_SECONDS:.0f} s, {ballots.count} ballots in all: first result "
        f"to the subscriber {figures['redis_first_result']:.2f} s after Redis was back; "
        f"worker SIGKILLed mid-calculation: next result {figures['kill_result']:.2f} s later"
    )
    assert figures["redis_first_result"] < REDIS_RECOVERY_BOUND
    assert figures["kill_result"] < KILL_RECOVERY_BOUND


async def _errors_of(socket: GraphQLSocket, op: str) -> None:
    while not socket.errors[op] and not socket.events[op]:
        socket.arrived.clear()
        await socket.arrived.wait()
