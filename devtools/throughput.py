"""Measure how many ballots one decision takes per second from concurrent clients.

A setup (embedded or distributed) is started from scratch with a small synthetic community
and V extra voters. C client processes then cast ballots over HTTP keep-alive for S seconds,
each cycling through its share of the voters, every cast changing that voter's stars; the
distributed clients are spread over ``servers`` daphne servers (two by default). The clients
run on the same machine as the servers, so the figure is what the machine as a whole
sustains; the CPU time spent while casting is reported per ballot by whose it was: the
servers, the workers (the embedded server's are its own), PostgreSQL, the clients, and the
machine as a whole (with Redis and anything else running). On PostgreSQL the clients then
cast for S seconds more while ``devtools.lockwaits`` samples how long ballots waited for
locks and held the decision's row; the rate and CPU figures come from the first phase alone.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypedDict
from urllib.parse import urlsplit

from django.apps import apps

from devtools.cpu import CpuMark, cpu_seconds
from devtools.latency import CAST, FIND_DECISION, LatencyOptions, Setup, started
from devtools.lockwaits import LockWaitSampler

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.queues import SimpleQueue

    from devtools.latency import Running

SETTLE_TIMEOUT = 120
# How a cast's last message starts (calc.queue's prepared change log, which share-locks the
# decision's row). Written out: the casting clients import this module without Django.
BALLOTS_LAST_MESSAGE = "EXECUTE crowdvote_log_"
SETTLED = """query($id: ID!) { decision(id: $id) {
  results { participation { directBallots } }
  snapshots(first: 1) { totalCount edges { node { status } } } } }"""


@dataclass(frozen=True, slots=True)
class ThroughputOptions:
    setup: Setup = "embedded"
    clients: int = 4
    seconds: float = 15.0
    voters: int = 40
    members: int = 100
    servers: int = 2
    postgres_url: str = ""
    redis_url: str = ""


class ThroughputReport(TypedDict):
    setup: str
    servers: int
    clients: int
    seconds: float
    voters: int
    members: int
    ballots: int
    ballots_per_second: float
    # Servers and workers together, as reported before the breakdown below.
    server_cpu_ms_per_ballot: float
    cpu_ms_per_ballot: CpuShares
    calculations: int
    # PostgreSQL only (devtools.lockwaits); None on SQLite, which runs one write at a time.
    lock_wait_ms_per_ballot: float | None
    lock_contended_ms_per_ballot: float | None
    lock_held_ms_per_ballot: float | None
    lock_held_by_ballots_ms_per_ballot: float | None


class CpuShares(TypedDict):
    servers: float
    workers: float
    database: float  # PostgreSQL's processes; 0 on SQLite, whose work is the server's
    clients: float
    machine: float  # every core's busy time, whoever spent it


@dataclass(frozen=True, slots=True)
class ClientShare:
    """What one client process casts, and where."""

    url: str
    tokens: list[str]
    decision: str
    choices: list[str]
    seconds: float
    offset: int


def cast_for(share: ClientShare) -> tuple[int, float]:
    """Cast ballots for ``share.seconds`` over one connection.

    Return how many were taken and the CPU seconds this client spent casting them.

    Requests are built before the clock starts and answers read off the socket as they
    come: the clients share the machine with the servers, and with ``http.client`` and a
    request encoded per cast they spent ~0.5 ms of CPU per ballot, ~0.15 ms so.
    """
    address = urlsplit(share.url)
    requests = cast_requests(share, address.hostname or "127.0.0.1", address.path)
    cast, deadline, cpu = 0, time.monotonic() + share.seconds, time.process_time()
    with socket.create_connection((address.hostname or "127.0.0.1", address.port or 80)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as http.client does
        answers = sock.makefile("rb")
        while time.monotonic() < deadline:
            sock.sendall(requests[cast % len(requests)])
            answer = json.loads(http_body(answers))
            if answer.get("errors") or answer["data"]["castBallot"]["errors"]:
                raise RuntimeError(f"castBallot failed: {answer}")
            cast += 1
    return cast, time.process_time() - cpu


def cast_requests(share: ClientShare, host: str, path: str) -> list[bytes]:
    """Return the HTTP requests a client sends in turn: each voter's, each with new stars."""
    # Voter k % n casts with the stars of shift offset + k; 6 shifts give every rating.
    requests = []
    for cast in range(math.lcm(len(share.tokens), 6)):
        token = share.tokens[cast % len(share.tokens)]
        shift = share.offset + cast
        stars = [{"choiceId": c, "stars": (shift + i) % 6} for i, c in enumerate(share.choices)]
        body = json.dumps({"query": CAST, "variables": {"d": share.decision, "stars": stars}})
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body.encode())}\r\n\r\n"
        )
        requests.append(head.encode() + body.encode())
    return requests


def http_body(answers: BinaryIO) -> bytes:
    """Read one HTTP/1.1 response off ``answers``; return its body, or raise unless 200."""
    status = answers.readline()
    if not status.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"castBallot answered {status.decode(errors='replace').strip()!r}")
    length, chunked = 0, False
    while (line := answers.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
        elif name.lower() == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return answers.read(length)
    body = b""
    while size := int(answers.readline().split(b";")[0], 16):
        body += answers.read(size)
        answers.readline()
    answers.readline()
    return body


def _settle(running: Running, decision: str, voters: int) -> int:
    """Wait until the newest calculation has completed; return how many the decision had."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        found = running.cast_api(SETTLED, running.token, id=decision)["decision"]
        snapshots = found["snapshots"]
        newest = snapshots["edges"][0]["node"]["status"] if snapshots["edges"] else None
        results = found["results"]
        counted = results["participation"]["directBallots"] if results else 0
        if newest == "COMPLETED" and counted >= voters:
            return int(snapshots["totalCount"])
        if time.monotonic() > deadline:
            raise RuntimeError(f"the decision did not settle within {SETTLE_TIMEOUT} s")
        time.sleep(0.2)


def throughput_run(
    options: ThroughputOptions, log: Callable[[str], None] = print
) -> ThroughputReport:
    """Start a setup, cast from ``options.clients`` processes, and report ballots per second."""
    voters = tuple(f"throughput_voter_{i}" for i in range(options.voters))
    setup = LatencyOptions(
        members=options.members,
        setup=options.setup,
        choices=4,
        postgres_url=options.postgres_url,
        redis_url=options.redis_url,
        servers=options.servers,
    )
    with (
        tempfile.TemporaryDirectory(prefix="crowdvote-throughput-") as tmp,
        started(setup, Path(tmp), log, voters) as running,
    ):
        me = running.cast_api(FIND_DECISION, running.token)
        node = me["me"]["memberships"][0]["community"]["decisions"]["edges"][0]["node"]
        decision, choices = node["id"], [c["id"] for c in node["choices"]]
        urls = [api.url for api in running.apis]
        tokens = list(running.tokens.values())
        shares = [
            ClientShare(
                url=urls[i % len(urls)],
                tokens=tokens[i :: options.clients],
                decision=decision,
                choices=choices,
                seconds=options.seconds,
                offset=i,
            )
            for i in range(options.clients)
        ]
        log(f"Casting from {_clients(options.clients)} for {options.seconds:g} s ...")
        # Workers start in the background: casting waits for their first result, so neither
        # their start-up nor a late first calculation is timed.
        _settle(running, decision, 0)
        worker_pids = [process.pid for process in running.server.worker_processes]
        server_pids = [p.pid for p in running.server.processes if p.pid not in worker_pids]
        # Closed and joined rather than terminated: terminate() SIGTERMs the workers, and
        # under coverage's SIGTERM handler an idle worker could hang the join for ever.
        spawn = multiprocessing.get_context("spawn")
        ready: SimpleQueue[bool] = spawn.SimpleQueue()
        pool = spawn.Pool(options.clients, initializer=_client_ready, initargs=(ready,))
        for _ in range(options.clients):  # their imports are no part of what casting costs
            ready.get()
        database_url = running.server.env.get("DATABASE_URL", "")
        # Looked up, not imported: the casting clients import this module without Django.
        decisions = apps.get_model("democracy", "Decision")._meta.db_table
        sampler = (
            LockWaitSampler(database_url, table=decisions, holder=BALLOTS_LAST_MESSAGE)
            if database_url
            else None
        )
        try:
            mark = CpuMark.now()
            servers_before, workers_before = _cpu_of(server_pids), _cpu_of(worker_pids)
            casts = pool.map(cast_for, shares)
            machine_cpu, database_cpu = mark.spent_since()
            servers_cpu = _cpu_of(server_pids) - servers_before
            workers_cpu = _cpu_of(worker_pids) - workers_before
            calculations = _settle(running, decision, options.voters)
            if sampler:
                # A phase of its own: the sampler's queries, 200 a second, take PostgreSQL
                # CPU that the rate above would otherwise lose.
                log(f"Casting again for {options.seconds:g} s, sampling locks ...")
                with sampler:
                    sampled = sum(count for count, _ in pool.map(cast_for, shares))
                _settle(running, decision, options.voters)
        finally:
            pool.close()
            pool.join()
    ballots = sum(count for count, _ in casts)

    def per_ballot(cpu: float) -> float:
        return round(cpu * 1000 / max(ballots, 1), 2)

    locks = sampler.result().per_ballot_ms(sampled / options.seconds) if sampler else {}
    servers = 1 if options.setup == "embedded" else options.servers
    return {
        "setup": options.setup,
        "servers": servers,
        "clients": options.clients,
        "seconds": options.seconds,
        "voters": options.voters,
        "members": options.members,
        "ballots": ballots,
        "ballots_per_second": round(ballots / options.seconds, 1),
        "server_cpu_ms_per_ballot": per_ballot(servers_cpu + workers_cpu),
        "cpu_ms_per_ballot": {
            "servers": per_ballot(servers_cpu),
            "workers": per_ballot(workers_cpu),
            "database": per_ballot(database_cpu if database_url else 0.0),
            "clients": per_ballot(sum(cpu for _, cpu in casts)),
            "machine": per_ballot(machine_cpu),
        },
        "calculations": calculations,
        "lock_wait_ms_per_ballot": locks.get("waited"),
        "lock_contended_ms_per_ballot": locks.get("contended"),
        "lock_held_ms_per_ballot": locks.get("held"),
        "lock_held_by_ballots_ms_per_ballot": locks.get("held_by_holder"),
    }


def _client_ready(ready: SimpleQueue[bool]) -> None:
    ready.put(True)


def _cpu_of(pids: list[int]) -> float:
    return sum(map(cpu_seconds, pids))


def _clients(count: int) -> str:
    return f"{count} client{'' if count == 1 else 's'}"


def throughput_summary(report: ThroughputReport) -> str:
    """Return the report as a few readable lines."""
    servers = report["servers"]
    return (
        f"{report['setup']} ({servers} server{'' if servers == 1 else 's'}): "
        f"{report['ballots']:,} ballots on one decision in "
        f"{report['seconds']:g} s from {_clients(report['clients'])} "
        f"({report['voters']} voters, {report['members']} members): "
        f"{report['ballots_per_second']:.1f} ballots/s; server CPU "
        f"{report['server_cpu_ms_per_ballot']:.2f} ms per ballot "
        f"({_cpu(report['cpu_ms_per_ballot'])}); "
        f"{report['calculations']} calculations{_locks(report)}\n"
    )


def _cpu(shares: CpuShares) -> str:
    return (
        f"servers {shares['servers']:.2f}, workers {shares['workers']:.2f}, PostgreSQL "
        f"{shares['database']:.2f}, clients {shares['clients']:.2f}, the machine "
        f"{shares['machine']:.2f}"
    )


def _locks(report: ThroughputReport) -> str:
    if report["lock_wait_ms_per_ballot"] is None:
        return ""
    held, by_ballots = (
        report["lock_held_ms_per_ballot"],
        report["lock_held_by_ballots_ms_per_ballot"],
    )
    return (
        f"; waited {report['lock_wait_ms_per_ballot']:.2f} ms per ballot for locks, "
        f"{report['lock_contended_ms_per_ballot']:.2f} ms with the row wanted by another"
        + (
            ""
            if held is None
            else f"; the decision's row locked {held:.2f} ms per ballot, "
            f"{by_ballots:.2f} ms of it by the ballots' last message"
        )
    )
