"""Measure the time from a castBallot response to the decisionResults event that counts it.

A setup (embedded or distributed) is started from scratch with a synthetic community of N
members seeded in bulk (``seed_synthetic``). One extra voter, whom nobody follows, then casts
K ballots one at a time over HTTP while a websocket subscription to ``decisionResults``
listens on another server (distributed) or the same one (embedded).

Each cast uses a star vector never used before, so the event that counts it is the first
with totals equal to the community's own totals plus that vector: the voter's ballot moves
no delegated ballot. Matching on totals rather than calculation ids is deliberate: a
calculation already running when the ballot arrives may read it and absorb the queued one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Literal, TypedDict

from devtools.benchsetup import (
    GraphQLSocket,
    HttpGraphQL,
    JsonObject,
    ServerProcess,
    bench_server,
)

Setup = Literal["embedded", "distributed"]
VOTER = "latency_voter"
SEED_TIMEOUT = 3_600
FIND_DECISION = """query { me { memberships { community { decisions(first: 1) { edges { node {
  id choices { id title } } } } } } } }"""
CAST = """mutation($d: ID!, $stars: [StarsInput!]!) {
  castBallot(input: {decisionId: $d, stars: $stars}) { errors { code message } } }"""
RESULTS = """subscription($id: ID!) { decisionResults(decisionId: $id) {
  calculationId scores { choice { id } totalStars } } }"""
CALCULATIONS = """query($id: ID!, $n: Int!) { decision(id: $id) {
  snapshots(first: $n) { edges { node { status durationMs } } } } }"""


@dataclass(frozen=True, slots=True)
class LatencyOptions:
    members: int
    setup: Setup = "embedded"
    ballots: int = 20
    choices: int = 10
    seed: int = 0
    postgres_url: str = ""
    redis_url: str = ""
    servers: int = 2  # daphne servers in the distributed setup
    first_result_timeout: float = 600
    result_timeout: float = 120
    restart: bool = False  # then kill what calculates, start it again and time one more ballot


class LatencyReport(TypedDict):
    setup: str
    members: int
    followings: int
    direct_ballots: int
    choices: int
    ballots: int
    seed_seconds: float
    first_result_seconds: float
    latencies_ms: list[float]
    median_ms: float
    p95_ms: float
    max_ms: float
    calculation_median_ms: float | None
    whole_snapshot_bytes: int
    stored_bytes_per_calculation: float
    peak_rss_mb: float  # the largest of the server and worker processes
    # With --restart: castBallot response -> its result, the first after the restart.
    restart_result_ms: float | None


# What each completed calculation stored for its snapshot (whole, or as changes), oldest first.
SNAPSHOT_SIZES = """
import json
from django.db.models.functions import Length
from calc.models import StoredSnapshot
rows = StoredSnapshot.objects.order_by("pk").annotate(
    size=Length("canonical") + Length("columns") + Length("delta")
).values_list("size", "depth")
print(json.dumps(list(rows)))
"""


def peak_rss_mb(pid: int) -> float:
    """Return the peak resident memory of a live process (``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile (``fraction`` in 0..1) of non-empty ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def star_vector(index: int, choices: int) -> list[int]:
    """Return the ``index``-th distinct 0..5 star vector (base-6 digits of ``index + 1``)."""
    value, digits = index + 1, []
    for _ in range(choices):
        value, digit = divmod(value, 6)
        digits.append(digit)
    if value:
        raise ValueError(f"more than {6**choices - 1} ballots need more choices")
    return digits


def _totals(event: JsonObject) -> dict[str, Decimal]:
    scores = event["decisionResults"]["scores"]
    return {s["choice"]["id"]: Decimal(s["totalStars"]) for s in scores}


@dataclass
class Running:
    """A started setup: where to cast, where to listen, and the seeded community.

    ``tokens`` holds a bearer token per extra voter; ``token`` is the first one's. ``apis``
    has one client per server; ``server`` started them all.
    """

    cast_api: HttpGraphQL
    listen_api: HttpGraphQL
    tokens: dict[str, str]
    seeded: JsonObject
    seed_seconds: float
    apis: list[HttpGraphQL]
    server: ServerProcess
    restart_calculators: Callable[[], None]

    @property
    def token(self) -> str:
        return next(iter(self.tokens.values()))


def _seed(
    server: ServerProcess, options: LatencyOptions, voters: tuple[str, ...]
) -> tuple[JsonObject, float]:
    started = time.perf_counter()
    out = server.manage(
        "seed_synthetic",
        "--members",
        str(options.members),
        "--choices",
        str(options.choices),
        "--seed",
        str(options.seed),
        *(arg for voter in voters for arg in ("--member", voter)),
        "--json",
        timeout=SEED_TIMEOUT,
    )
    seeded: JsonObject = json.loads(out.strip().splitlines()[-1])
    return seeded, time.perf_counter() - started


@contextlib.contextmanager
def started(
    options: LatencyOptions,
    workdir: Path,
    log: Callable[[str], None],
    voters: tuple[str, ...] = (VOTER,),
) -> Iterator[Running]:
    """Start the chosen setup, seeded, with extra ``voters`` whom nobody follows.

    Every process is stopped (and the database dropped) after.
    """
    with contextlib.ExitStack() as stack:
        server = bench_server(
            stack,
            setup=options.setup,
            workdir=workdir,
            postgres_admin_url=options.postgres_url,
            redis=options.redis_url,
        )
        log(f"Seeding {options.members:,} members ({options.setup}) ...")
        seeded, seed_seconds = _seed(server, options, voters)
        tokens = server.tokens(*voters)
        restart: Callable[[], None]
        if options.setup == "embedded":
            port = server.start("serve")
            apis = [HttpGraphQL(f"http://127.0.0.1:{port}/graphql")]
            serve = server.processes[-1]
            restart = partial(_restarted, server, [serve], lambda: server.start("serve", port=port))
        else:
            apis = [
                HttpGraphQL(f"http://127.0.0.1:{server.start_daphne()}/graphql")
                for _ in range(options.servers)
            ]
            workers = [server.start_worker(f"worker-{index}") for index in range(2)]
            restart = partial(_restarted, server, workers, lambda: _workers_started(server, 2))
        cast_api, listen_api = apis[0], apis[-1]
        yield Running(cast_api, listen_api, tokens, seeded, seed_seconds, apis, server, restart)


def _workers_started(server: ServerProcess, count: int) -> None:
    for index in range(count):
        server.start_worker(f"worker-{index}-restarted")


def _restarted(
    server: ServerProcess, calculators: list[subprocess.Popen[bytes]], start: Callable[[], object]
) -> None:
    """Kill ``calculators`` as a crash would (SIGKILL: nothing kept survives), then ``start``."""
    for process in calculators:
        process.kill()
        process.wait(timeout=30)
        server.processes.remove(process)
    start()


async def _measure(
    running: Running, options: LatencyOptions, log: Callable[[str], None]
) -> tuple[list[float], float, float | None, float]:
    """Return the latencies, the first result's wait, the restart's latency and peak RSS."""
    me = await asyncio.to_thread(running.cast_api, FIND_DECISION, running.token)
    (membership,) = me["me"]["memberships"]
    (edge,) = membership["community"]["decisions"]["edges"]
    decision, choices = edge["node"]["id"], [c["id"] for c in edge["node"]["choices"]]
    url = running.listen_api.url.replace("http://", "ws://")
    latencies: list[float] = []
    async with GraphQLSocket(url, running.token) as socket:
        await socket.subscribe("results", RESULTS, id=decision)
        begun = time.perf_counter()
        await socket.wait_for("results", lambda _: True, timeout=options.first_result_timeout)
        first_result = time.perf_counter() - begun
        # The voter's ballot replaces the previous one: each result is this plus the ballot.
        base = _totals(socket.events["results"][0])
        for index in range(options.ballots):
            vector = dict(zip(choices, star_vector(index, len(choices)), strict=True))
            latency = await _cast_and_time(running, socket, decision, base, vector, options)
            latencies.append(latency)
            log(f"  ballot {index + 1}/{options.ballots}: {latency:.0f} ms")
    peak = _peak_rss_mb(running)
    if not options.restart:
        return latencies, first_result, None, peak
    log("Killing what calculates (SIGKILL) and starting it again ...")
    await asyncio.to_thread(running.restart_calculators)
    async with GraphQLSocket(url, running.token) as socket:
        await socket.subscribe("results", RESULTS, id=decision)
        await socket.wait_for("results", lambda _: True, timeout=options.first_result_timeout)
        vector = dict(zip(choices, star_vector(options.ballots, len(choices)), strict=True))
        restarted = await _cast_and_time(
            running, socket, decision, base, vector, options, options.first_result_timeout
        )
    log(f"  the first ballot after the restart: {restarted:.0f} ms")
    return latencies, first_result, restarted, max(peak, _peak_rss_mb(running))


async def _cast_and_time(
    running: Running,
    socket: GraphQLSocket,
    decision: str,
    base: dict[str, Decimal],
    vector: dict[str, int],
    options: LatencyOptions,
    timeout: float | None = None,
) -> float:
    """Cast ``vector``; return ms from the castBallot answer to the result that counts it."""
    want = {choice: base[choice] + stars for choice, stars in vector.items()}
    seen = len(socket.events["results"])
    stars = [{"choiceId": choice, "stars": value} for choice, value in vector.items()]
    cast = await asyncio.to_thread(running.cast_api, CAST, running.token, d=decision, stars=stars)
    answered = time.perf_counter()
    if cast["castBallot"]["errors"]:
        raise RuntimeError(f"castBallot failed: {cast['castBallot']['errors']}")
    found = await socket.wait_for_index(
        "results",
        lambda event: _totals(event) == want,
        timeout=timeout or options.result_timeout,
        start=seen,
    )
    return max(0.0, socket.arrivals["results"][found] - answered) * 1000


def _peak_rss_mb(running: Running) -> float:
    return max(peak_rss_mb(p.pid) for p in running.server.processes if p.poll() is None)


def _calculation_median(running: Running, count: int) -> float | None:
    me = running.cast_api(FIND_DECISION, running.token)
    decision = me["me"]["memberships"][0]["community"]["decisions"]["edges"][0]["node"]["id"]
    found = running.cast_api(CALCULATIONS, running.token, id=decision, n=min(count, 100))
    durations = [
        edge["node"]["durationMs"]
        for edge in found["decision"]["snapshots"]["edges"]
        if edge["node"]["status"] == "COMPLETED" and edge["node"]["durationMs"] is not None
    ]
    return float(statistics.median(durations)) if durations else None


def latency_run(options: LatencyOptions, log: Callable[[str], None] = print) -> LatencyReport:
    """Start a setup, seed it, cast ``options.ballots`` ballots and time each live result."""
    with (
        tempfile.TemporaryDirectory(prefix="crowdvote-latency-") as tmp,
        started(options, Path(tmp), log) as running,
    ):
        latencies, first_result, restarted, peak = asyncio.run(_measure(running, options, log))
        calculation_median = _calculation_median(running, options.ballots + 1)
        printed = running.server.manage("shell", "--no-imports", "-c", SNAPSHOT_SIZES)
        sizes = json.loads(printed.strip().splitlines()[-1])
    whole = max(size for size, depth in sizes if depth == 0)
    timed = [size for size, _ in sizes[1:]] or [whole]
    seeded = running.seeded
    return {
        "setup": options.setup,
        "members": int(seeded["members"]),
        "followings": int(seeded["followings"]),
        "direct_ballots": int(seeded["direct_ballots"]),
        "choices": int(seeded["choices"]),
        "ballots": len(latencies),
        "seed_seconds": round(running.seed_seconds, 2),
        "first_result_seconds": round(first_result, 2),
        "latencies_ms": [round(value, 1) for value in latencies],
        "median_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "max_ms": round(max(latencies), 1),
        "calculation_median_ms": calculation_median,
        "whole_snapshot_bytes": whole,
        "stored_bytes_per_calculation": round(statistics.median(timed), 1),
        "peak_rss_mb": round(peak, 1),
        "restart_result_ms": None if restarted is None else round(restarted, 1),
    }


def latency_summary(report: LatencyReport) -> str:
    """Return the report as a few readable lines."""
    calc_ms = report["calculation_median_ms"]
    return (
        f"{report['setup']}: {report['members']:,} members, {report['followings']:,} followings, "
        f"{report['direct_ballots']:,} direct ballots, {report['choices']} choices\n"
        f"seeded in {report['seed_seconds']:.1f}s; "
        f"first result {report['first_result_seconds']:.1f}s after subscribing\n"
        f"castBallot response -> decisionResults event over {report['ballots']} ballots: "
        f"median {report['median_ms']:.0f} ms, p95 {report['p95_ms']:.0f} ms, "
        f"max {report['max_ms']:.0f} ms\n"
        f"median calculation (durationMs): "
        f"{'-' if calc_ms is None else f'{calc_ms:.0f} ms'}\n"
        f"snapshot stored per calculation after the first: median "
        f"{report['stored_bytes_per_calculation']:,.0f} bytes "
        f"(a whole one: {report['whole_snapshot_bytes']:,} bytes)\n"
        f"peak memory of the largest server or worker process: {report['peak_rss_mb']:,.0f} MB\n"
        + (
            ""
            if report["restart_result_ms"] is None
            else f"after killing and restarting what calculates, the next ballot's result: "
            f"{report['restart_result_ms']:,.0f} ms\n"
        )
    )
