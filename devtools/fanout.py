"""Measure live-result fan-out: N anonymous subscribers on one public decision, K ballots.

A fresh setup (embedded ``serve``, or S daphne servers and two workers on PostgreSQL and
Redis) gets a public community with one open decision. N graphql-transport-ws subscribers
(``devtools.wsflock``, in a few client processes) subscribe anonymously to
``decisionResults``; one voter then casts K ballots one by one, each with stars never used
before, so the event that counts ballot k is the first whose totals equal its stars. The
delay is from the castBallot answer to that event at each subscriber.

Server cost is read from /proc: CPU seconds (utime + stime) over the ballots per result,
and resident memory before and after the subscribers connected, per subscriber.
``restart`` then restarts every server and times until all subscribers, reconnecting with
jittered backoff, have the current result again, and casts one more ballot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal, TypedDict

from devtools.benchsetup import (
    HttpGraphQL,
    ServerProcess,
    bench_server,
    free_port,
)
from devtools.cpu import cpu_seconds
from devtools.latency import percentile, star_vector
from devtools.wsflock import Subscriber, open_all, raise_fd_limit, subscribe_message

Setup = Literal["embedded", "distributed"]
CHOICES = 4
PER_CLIENT_PROCESS = 5_000
CREATE_COMMUNITY = """mutation { createCommunity(input: {name: "Fan-out", resultsArePublic: true}) {
  community { id } errors { code } } }"""
CREATE_DECISION = """mutation($c: ID!, $closes: DateTime!, $choices: [ChoiceInput!]!) {
  createDecision(input: {communityId: $c, title: "Fan-out", closesAt: $closes,
  choices: $choices}) { decision { id choices { id } } errors { code } } }"""
PUBLISH = """mutation($id: ID!) { publishDecision(decisionId: $id) { errors { code } } }"""
CAST = """mutation($d: ID!, $stars: [StarsInput!]!) {
  castBallot(input: {decisionId: $d, stars: $stars}) { errors { code message } } }"""
RESULTS = """subscription($id: ID!) { decisionResults(decisionId: $id) {
  calculationId scores { choice { id } totalStars } } }"""


@dataclass(frozen=True, slots=True)
class FanoutOptions:
    subscribers: int
    ballots: int = 5
    setup: Setup = "embedded"
    servers: int = 1
    restart: bool = False
    postgres_url: str = ""
    redis_url: str = ""
    result_timeout: float = 60


class FanoutReport(TypedDict):
    setup: str
    servers: int
    subscribers: int
    connected: int
    ballots: int
    events_expected: int
    events_received: int
    events_missing: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    server_cpu_seconds_per_result: float
    server_kb_per_idle_subscriber: float
    restart: dict[str, float | int] | None


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _totals(payload: bytes) -> dict[str, Decimal] | None:
    data = (json.loads(payload).get("payload") or {}).get("data") or {}
    results = data.get("decisionResults")
    if not results:
        return None
    return {s["choice"]["id"]: Decimal(s["totalStars"]) for s in results["scores"]}


# Client processes: each holds a share of the subscribers and answers its parent's requests.


def _client_main(conn: Connection) -> None:
    raise_fd_limit()
    asyncio.run(_client(conn))


async def _client(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    subscribers: list[Subscriber] = []
    while True:
        request, args = await loop.run_in_executor(None, conn.recv)
        if request == "open":
            urls, count, subscribe, reconnect = args
            subscribers, failed = await open_all(urls, count, subscribe, reconnect=reconnect)
            conn.send(failed)
        elif request == "first":  # wait until every open subscriber has an event
            deadline = loop.time() + args
            while loop.time() < deadline and any(s.connects and not s.events for s in subscribers):
                await asyncio.sleep(0.1)
            conn.send(sum(1 for s in subscribers if s.events))
        elif request == "mark":
            conn.send([len(s.events) for s in subscribers])
        elif request == "news":  # wait until every open subscriber has an event past its mark
            marks, timeout = args
            deadline = loop.time() + timeout
            while loop.time() < deadline and any(
                s.connects and len(s.events) <= mark
                for s, mark in zip(subscribers, marks, strict=True)
            ):
                await asyncio.sleep(0.05)
            conn.send(None)
        elif request == "served_again":  # every subscriber reconnected and got an event since
            marks, deadline = args
            deadline = loop.time() + deadline
            while loop.time() < deadline:
                served = sum(
                    1
                    for s, mark in zip(subscribers, marks, strict=True)
                    if s.connects >= 2 and len(s.events) > mark
                )
                if served == len(subscribers):
                    break
                await asyncio.sleep(0.1)
            conn.send((served, time.monotonic()))
        elif request == "delays":
            conn.send(_delays(subscribers, args))
        elif request == "stop":
            for subscriber in subscribers:
                subscriber.close()
            conn.send(None)
            return


def _delays(
    subscribers: list[Subscriber], ballots: list[tuple[float, dict[str, Decimal]]]
) -> tuple[list[float], int]:
    """Per ballot and subscriber: the delay to the first event with the ballot's totals."""
    delays: list[float] = []
    missing = 0
    for subscriber in subscribers:
        if not subscriber.connects:
            continue
        seen = [(at, _totals(raw)) for at, raw in subscriber.events]
        for answered, want in ballots:
            found = next((at for at, totals in seen if totals == want), None)
            if found is None:
                missing += 1
            else:
                delays.append(max(0.0, found - answered) * 1000)
    return delays, missing


class Clients:
    """The client processes, asked in turn and answering in turn."""

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.processes = []
        for _ in range(count):
            parent, child = context.Pipe()
            process = context.Process(target=_client_main, args=(child,), daemon=True)
            process.start()
            self.conns.append(parent)
            self.processes.append(process)

    def ask(self, request: str, args: list[Any]) -> list[Any]:
        for conn, arg in zip(self.conns, args, strict=True):
            conn.send((request, arg))
        return [conn.recv() for conn in self.conns]

    def ask_all(self, request: str, arg: Any = None) -> list[Any]:
        return self.ask(request, [arg] * len(self.conns))

    def stop(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self.ask_all("stop")
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


# The setup.


@dataclass
class Started:
    server: ServerProcess
    api: HttpGraphQL
    ws_urls: list[str]
    server_pids: list[int]
    restart: Callable[[], list[int]]


@contextlib.contextmanager
def started(options: FanoutOptions, workdir: Path, log: Callable[[str], None]) -> Iterator[Started]:
    with contextlib.ExitStack() as stack:
        server = bench_server(
            stack,
            setup=options.setup,
            workdir=workdir,
            postgres_admin_url=options.postgres_url,
            redis=options.redis_url,
        )
        ports = [free_port() for _ in range(options.servers)]
        web: list[int] = []  # indexes of the web servers in server.processes

        def start_web() -> list[int]:
            web.clear()
            for port in ports:
                if options.setup == "embedded":
                    server.start("serve", port=port)
                else:
                    server.start_daphne(port)
                web.append(len(server.processes) - 1)
            return [server.processes[i].pid for i in web]

        def restart() -> list[int]:
            for index in web:
                server.processes[index].terminate()
            for index in web:
                server.processes[index].wait(timeout=30)
            log("  servers stopped; starting them again")
            return start_web()

        pids = start_web()
        if options.setup == "distributed":
            for index in range(2):
                server.start_worker(f"worker-{index}")
        api = HttpGraphQL(f"http://127.0.0.1:{ports[0]}/graphql")
        yield Started(server, api, [f"ws://127.0.0.1:{p}/graphql" for p in ports], pids, restart)


def _public_decision(running: Started) -> tuple[str, str, list[str]]:
    token = running.server.tokens("fanout_voter")["fanout_voter"]
    created = running.api(CREATE_COMMUNITY, token)["createCommunity"]
    community = created["community"]["id"]
    closes = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    choices = [{"title": f"Option {n + 1}"} for n in range(CHOICES)]
    decision = running.api(CREATE_DECISION, token, c=community, closes=closes, choices=choices)
    node = decision["createDecision"]["decision"]
    assert running.api(PUBLISH, token, id=node["id"])["publishDecision"]["errors"] == []
    return token, node["id"], [c["id"] for c in node["choices"]]


def _cast(running: Started, token: str, decision: str, choices: list[str], index: int) -> Any:
    vector = star_vector(index, len(choices))
    stars = [{"choiceId": c, "stars": s} for c, s in zip(choices, vector, strict=True)]
    answer = running.api(CAST, token, d=decision, stars=stars)["castBallot"]
    if answer["errors"]:
        raise RuntimeError(f"castBallot failed: {answer['errors']}")
    want = {c: Decimal(s) for c, s in zip(choices, vector, strict=True)}
    return time.monotonic(), want


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def fanout_run(options: FanoutOptions, log: Callable[[str], None] = print) -> FanoutReport:
    raise_fd_limit()
    clients = Clients(max(1, -(-options.subscribers // PER_CLIENT_PROCESS)))
    try:
        with (
            tempfile.TemporaryDirectory(prefix="crowdvote-fanout-") as tmp,
            started(options, Path(tmp), log) as running,
        ):
            return _measure(options, running, clients, log)
    finally:
        clients.stop()


def _measure(
    options: FanoutOptions, running: Started, clients: Clients, log: Callable[[str], None]
) -> FanoutReport:
    token, decision, choices = _public_decision(running)
    ballots = [_cast(running, token, decision, choices, 0)]  # a first result to subscribe to
    time.sleep(1.0)
    pids = running.server_pids
    rss_before = sum(_rss_kb(pid) for pid in pids)
    subscribe = subscribe_message(RESULTS, {"id": decision})
    log(f"Opening {options.subscribers:,} subscribers ({options.setup}, {len(pids)} server(s)) ...")
    began = time.monotonic()
    shares = _split(options.subscribers, len(clients.conns))
    failed = sum(
        clients.ask("open", [(running.ws_urls, n, subscribe, options.restart) for n in shares])
    )
    connected = options.subscribers - failed
    with_first = sum(clients.ask_all("first", options.result_timeout))
    log(
        f"  {connected:,} connected in {time.monotonic() - began:.1f}s, "
        f"{with_first:,} have the current result"
    )
    time.sleep(1.0)
    rss_after = sum(_rss_kb(pid) for pid in pids)
    cpu_before = sum(cpu_seconds(pid) for pid in _all_pids(running))
    measured = []
    for index in range(1, options.ballots + 1):
        marks = clients.ask_all("mark")
        measured.append(_cast(running, token, decision, choices, index))
        _settle(clients, marks, options.result_timeout)
        log(f"  ballot {index}/{options.ballots} delivered")
    cpu = sum(cpu_seconds(pid) for pid in _all_pids(running)) - cpu_before
    restart = _restart(options, running, clients, token, decision, choices, log)
    del ballots
    delays: list[float] = []
    missing = 0
    for got, lost in clients.ask_all("delays", measured):
        delays += got
        missing += lost
    return {
        "setup": options.setup,
        "servers": len(pids),
        "subscribers": options.subscribers,
        "connected": connected,
        "ballots": options.ballots,
        "events_expected": connected * options.ballots,
        "events_received": len(delays),
        "events_missing": missing,
        "p50_ms": _rounded(delays, 0.50),
        "p95_ms": _rounded(delays, 0.95),
        "p99_ms": _rounded(delays, 0.99),
        "max_ms": round(max(delays), 1) if delays else None,
        "server_cpu_seconds_per_result": round(cpu / options.ballots, 3),
        "server_kb_per_idle_subscriber": round((rss_after - rss_before) / max(1, connected), 1),
        "restart": restart,
    }


def _all_pids(running: Started) -> list[int]:
    return [p.pid for p in running.server.processes if p.poll() is None]


def _rounded(values: list[float], fraction: float) -> float | None:
    return round(percentile(values, fraction), 1) if values else None


def _settle(clients: Clients, marks: list[Any], timeout: float) -> None:
    """Wait (bounded) until every subscriber has a new event and the flow stopped.

    The next ballot then starts a calculation of its own instead of joining this one.
    """
    clients.ask("news", [(m, timeout) for m in marks])
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = clients.ask_all("mark")
        if now == last:
            return
        last = now


def _restart(
    options: FanoutOptions,
    running: Started,
    clients: Clients,
    token: str,
    decision: str,
    choices: list[str],
    log: Callable[[str], None],
) -> dict[str, float | int] | None:
    if not options.restart:
        return None
    marks = clients.ask_all("mark")
    stopped = time.monotonic()
    running.server_pids = running.restart()
    started_at = time.monotonic()
    answers = clients.ask("served_again", [(m, 120.0) for m in marks])
    served = sum(count for count, _ in answers)
    done = max(at for _, at in answers)
    log(f"  {served:,} subscribers served again {done - started_at:.1f}s after the restart")
    marks = clients.ask_all("mark")
    answered, want = _cast(running, token, decision, choices, options.ballots + 1)
    _settle(clients, marks, options.result_timeout)
    (got, lost), *more = clients.ask_all("delays", [(answered, want)])
    for extra_got, extra_lost in more:
        got += extra_got
        lost += extra_lost
    return {
        "served_again": served,
        "seconds_after_start": round(done - started_at, 1),
        "seconds_after_stop": round(done - stopped, 1),
        "ballot_after_restart_received": len(got),
        "ballot_after_restart_missing": lost,
        "ballot_after_restart_p99_ms": _rounded(got, 0.99) or 0.0,
    }


def fanout_summary(report: FanoutReport) -> str:
    lines = [
        f"{report['setup']} ({report['servers']} server(s)): {report['connected']:,} of "
        f"{report['subscribers']:,} subscribers connected, {report['ballots']} ballots",
        f"events: {report['events_received']:,} received, {report['events_missing']:,} missing",
        f"castBallot answer -> decisionResults: p50 {report['p50_ms']} ms, p95 "
        f"{report['p95_ms']} ms, p99 {report['p99_ms']} ms, max {report['max_ms']} ms",
        f"server CPU per result: {report['server_cpu_seconds_per_result']} s; memory per idle "
        f"subscriber: {report['server_kb_per_idle_subscriber']} KB",
    ]
    if report["restart"]:
        lines.append(f"restart: {report['restart']}")
    return "\n".join(lines) + "\n"
