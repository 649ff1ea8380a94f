"""Start real CrowdVote processes and talk to them: shared by the e2e tests and ``bench_latency``.

Embedded is one ``manage.py serve`` on SQLite; distributed is daphne and ``runworker calc``
processes on a throwaway PostgreSQL database and a Redis prefix of their own. Every process
is started on a loopback port and stopped by :meth:`ServerProcess.stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 30
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
# Settings the parent environment must not leak into a child's own setup. DEBUG among them:
# the children run as production does (DEBUG off, a SECRET_KEY given), whether or not the
# command that started them needed DEBUG=1 to start.
OWN_SETTINGS = {"DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "DJANGO_SETTINGS_MODULE", "DEBUG"}
JsonObject = dict[str, Any]


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = STARTUP_SECONDS
) -> None:
    """Return once ``port`` accepts connections; raise if ``process`` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port} within {timeout}s")


@dataclass
class ServerProcess:
    """A CrowdVote process tree with its own database, logs and environment."""

    env: dict[str, str]
    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_processes: list[subprocess.Popen[bytes]] = field(default_factory=list)  # of the above

    def manage(self, *args: str, timeout: float = 120) -> str:
        """Run a management command to completion in this environment; return its stdout."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def spawn(self, command: list[str], name: str, env: dict[str, str] | None = None) -> Path:
        """Start ``command`` in the background with its output in a log; return the log path."""
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return log

    def start(self, *args: str, port: int | None = None, name: str = "serve") -> int:
        """Start ``manage.py *args``; for ``serve``, wait until it listens and return its port."""
        port = port or free_port()
        command = [sys.executable, "manage.py", *args]
        if args[0] == "serve":
            command += ["--port", str(port)]
        log = self.spawn(command, f"{name}-{port}")
        if args[0] == "serve":
            wait_for_port(port, self.processes[-1], log)
        return port

    def start_daphne(self, port: int | None = None) -> int:
        """Start a plain daphne (no worker) and return its port once it listens."""
        port = port or free_port()
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        log = self.spawn([*command, "crowdvote.asgi:application"], f"daphne-{port}")
        wait_for_port(port, self.processes[-1], log)
        return port

    def start_worker(self, name: str = "worker", **env: str) -> subprocess.Popen[bytes]:
        """Start ``runworker calc`` with extra environment (e.g. ``CALC_DEBOUNCE_MS``)."""
        self.spawn([sys.executable, "manage.py", "runworker", "calc"], name, env)
        self.worker_processes.append(self.processes[-1])
        return self.worker_processes[-1]

    def tokens(self, *names: str) -> dict[str, str]:
        """Return a fresh bearer token per username, creating users as needed."""
        lines = self.manage("issue_token", *names).splitlines()
        return dict(line.split(" ", 1) for line in lines)

    def stop(self) -> None:
        """Stop every process started here: TERM, then KILL after 10 s."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


class GraphQLRequestError(AssertionError):
    """The server answered a GraphQL request with errors."""


@dataclass
class HttpGraphQL:
    """A GraphQL-over-HTTP client: ``api(document, token, **variables)`` returns ``data``."""

    url: str
    timeout: float = 30

    def __call__(self, document: str, token: str | None = None, **variables: Any) -> JsonObject:
        request = urllib.request.Request(
            self.url,
            data=json.dumps({"query": document, "variables": variables}).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            body: JsonObject = json.load(response)
        if body.get("errors"):
            raise GraphQLRequestError(body["errors"])
        data: JsonObject = body["data"]
        return data


class GraphQLSocket:
    """One websocket connection carrying any number of subscriptions (both sub-protocols).

    ``arrivals[op]`` holds the ``time.perf_counter()`` at which each event of ``op`` arrived.
    """

    def __init__(self, url: str, token: str | None = None, protocol: str = TRANSPORT_WS) -> None:
        self.url = url
        self.token = token
        self.protocol = protocol
        self.events: dict[str, list[JsonObject]] = defaultdict(list)
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[Any]] = defaultdict(list)
        self.completed: set[str] = set()
        self.arrived = asyncio.Event()
        self.socket: Any = None
        self.reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> GraphQLSocket:
        import websockets  # A test extra: only the tests and bench_latency need it.
        from websockets.typing import Subprotocol

        self.socket = await websockets.connect(
            self.url, subprotocols=[Subprotocol(self.protocol)], max_size=None
        )
        payload = {"authorization": f"Bearer {self.token}"} if self.token else {}
        await self.socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(self.socket.recv(), 10))
        if ack["type"] != "connection_ack":
            raise ConnectionError(f"not acknowledged: {ack}")
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.reader:
            self.reader.cancel()
        await self.socket.close()

    async def _read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            kind, op = message.get("type"), message.get("id")
            if kind in ("next", "data"):
                payload = message["payload"]
                if payload.get("errors"):
                    self.errors[op].append(payload["errors"])
                else:
                    self.events[op].append(payload["data"])
                    self.arrivals[op].append(time.perf_counter())
            elif kind == "error":
                self.errors[op].append(message.get("payload"))
            elif kind == "complete":
                self.completed.add(op)
            elif kind == "ping":
                await self.socket.send(json.dumps({"type": "pong"}))
            self.arrived.set()

    async def subscribe(self, op: str, query: str, **variables: Any) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": variables}
        await self.socket.send(json.dumps({"type": kind, "id": op, "payload": payload}))

    async def stop(self, op: str) -> None:
        kind = "complete" if self.protocol == TRANSPORT_WS else "stop"
        await self.socket.send(json.dumps({"type": kind, "id": op}))

    async def wait_for(
        self, op: str, predicate: Callable[[JsonObject], bool], timeout: float = 20
    ) -> JsonObject:
        """Return the first event of ``op`` (seen or to come) that satisfies ``predicate``."""
        return self.events[op][await self.wait_for_index(op, predicate, timeout)]

    async def wait_for_index(
        self, op: str, predicate: Callable[[JsonObject], bool], timeout: float = 20, start: int = 0
    ) -> int:
        """Return the index of the first event of ``op`` from ``start`` on that matches."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for index in range(start, len(self.events[op])):
                if predicate(self.events[op][index]):
                    return index
            if self.errors[op]:
                raise AssertionError(f"subscription {op} failed: {self.errors[op]}")
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"{op}: no matching event among {self.events[op][-5:]}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)


def embedded_env(workdir: Path) -> dict[str, str]:
    """Return the environment of an embedded CrowdVote whose files live under ``workdir``."""
    env = {key: value for key, value in os.environ.items() if key not in OWN_SETTINGS}
    env.update(
        {
            "CROWDVOTE_DATA_DIR": str(workdir / "var"),
            "CROWDVOTE_LOG_DIR": str(workdir / "logs"),
            "SECRET_KEY": "e2e-secret-key-not-for-production",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def distributed_env(
    workdir: Path, *, database_url: str, redis_url: str, redis_prefix: str, **settings: str
) -> dict[str, str]:
    """Return the environment of a distributed CrowdVote (PostgreSQL and Redis)."""
    env = embedded_env(workdir)
    env.update(
        {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "REDIS_PREFIX": redis_prefix},
        **settings,
    )
    return env


def postgres_url() -> str:
    """Return the administrative PostgreSQL URL for throwaway databases."""
    return os.environ.get("CROWDVOTE_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def redis_url() -> str:
    """Return the Redis URL for distributed runs."""
    return os.environ.get("CROWDVOTE_TEST_REDIS_URL") or DEFAULT_REDIS_URL


def services_missing(admin_url: str, redis: str) -> str | None:
    """Return why PostgreSQL or Redis cannot be used, or None when both answer."""
    import psycopg
    import redis as redis_py

    try:
        with psycopg.connect(admin_url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable".
        return f"PostgreSQL is not reachable at {admin_url}: {error}"
    try:
        client = redis_py.Redis.from_url(redis, socket_timeout=3, socket_connect_timeout=3)
        client.ping()
        client.close()
    except Exception as error:  # noqa: BLE001
        return f"Redis is not reachable at {redis}: {error}"
    return None


def database_url(admin_url: str, name: str) -> str:
    """Return ``admin_url`` pointing at database ``name`` instead."""
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextlib.contextmanager
def temporary_database(admin_url: str, prefix: str = "crowdvote_e2e") -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, and drop it afterwards."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_prefix_delete(url: str, prefix: str) -> None:
    """Delete every Redis key a run left under ``prefix`` (channels, groups)."""
    import redis as redis_py

    client = redis_py.Redis.from_url(url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def new_redis_prefix(prefix: str = "crowdvote_e2e") -> str:
    """Return a Redis key prefix no other run uses."""
    return f"{prefix}_{secrets.token_hex(4)}"


def bench_server(
    stack: contextlib.ExitStack,
    *,
    setup: str,
    workdir: Path,
    postgres_admin_url: str,
    redis: str,
) -> ServerProcess:
    """Return a migrated setup for a benchmark, torn down (database dropped) with ``stack``."""
    if setup == "embedded":
        server = ServerProcess(env=embedded_env(workdir), workdir=workdir)
    else:
        problem = services_missing(postgres_admin_url, redis)
        if problem:
            raise RuntimeError(problem)
        url = stack.enter_context(temporary_database(postgres_admin_url, "crowdvote_bench"))
        prefix = new_redis_prefix("crowdvote_bench")
        stack.callback(redis_prefix_delete, redis, prefix)
        env = distributed_env(workdir, database_url=url, redis_url=redis, redis_prefix=prefix)
        server = ServerProcess(env=env, workdir=workdir)
    stack.callback(server.stop)
    server.manage("migrate", "--no-input")
    return server
