"""Real servers for end-to-end tests: `manage.py serve` in a subprocess on a free port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port} within {STARTUP_SECONDS}s")


@dataclass
class ServerProcess:
    """A CrowdVote process tree with its own database, logs and environment."""

    env: dict[str, str]
    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self, *args: str, port: int | None = None, name: str = "serve") -> int:
        port = port or free_port()
        log = self.workdir / f"{name}-{port}.log"
        command = [sys.executable, "manage.py", *args]
        if args[0] == "serve":
            command += ["--port", str(port)]
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        if args[0] == "serve":
            wait_for_port(port, process, log)
        return port

    def tokens(self, *names: str) -> dict[str, str]:
        lines = self.manage("issue_token", *names).splitlines()
        return dict(line.split(" ", 1) for line in lines)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@dataclass
class HttpGraphQL:
    url: str

    def __call__(self, document: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url,
            data=json.dumps({"query": document, "variables": variables}).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
        assert not body.get("errors"), body["errors"]
        return body["data"]


def embedded_env(workdir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        {
            "CROWDVOTE_DATA_DIR": str(workdir / "var"),
            "CROWDVOTE_LOG_DIR": str(workdir / "logs"),
            "SECRET_KEY": "e2e-secret-key-not-for-production",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[ServerProcess]:
    """An embedded CrowdVote (SQLite, in-memory layer) served by `manage.py serve`."""
    server = ServerProcess(env=embedded_env(tmp_path), workdir=tmp_path)
    server.manage("migrate", "--no-input")
    try:
        yield server
    finally:
        server.stop()
