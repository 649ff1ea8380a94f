"""The real JavaScript clients (from npm, see js/package.json) against a real `serve`.

The node modules are installed by `npm ci` in tests/clients/js (`.ci/run` does it). Without
node or those modules the tests skip, saying why, unless CROWDVOTE_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from devtools.benchsetup import embedded_env
from tests.e2e.conftest import HttpGraphQL, ServerProcess, skip_or_fail
from tests.e2e.helpers import Vote

JS = Path(__file__).with_name("js")
# A Decision ID no decision has.
UNKNOWN_DECISION = "RGVjaXNpb246OTk5OTk5"
STATUSES = ["QUEUED", "CREATING", "READY", "STAGING", "TALLYING", "COMPLETED"]
# Ben gives park 4 stars and road 2, the first ballot of the decision.
BALLOT = {"park": 4, "road": 2}
# A front end's dev server on another origin: allowed by the server the tests start.
FRONT_END = "http://localhost:5173"


def node_missing() -> str | None:
    """Return why the client scripts cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (JS / "node_modules").is_dir():
        return f"the JavaScript clients are not installed: run `npm ci` in {JS}"
    return None


@pytest.fixture(scope="session")
def node() -> str:
    problem = node_missing()
    if problem:
        skip_or_fail(problem, test="JavaScript client test")
    path = shutil.which("node")
    assert path is not None
    return path


@dataclass
class Server:
    """One embedded `serve` shared by the client tests, and how to reach it."""

    process: ServerProcess
    port: int
    # Bearer tokens of ann, ben and cat: issuing tokens starts a Python process, so only once.
    tokens: dict[str, str]

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def api(self) -> HttpGraphQL:
        return HttpGraphQL(self.http)

    def decision(self) -> Vote:
        """A fresh open decision (ann manages, ben and cat vote), with its first result."""
        vote = Vote(self.api(), self.tokens)
        deadline = time.monotonic() + 20
        while vote.results() is None:
            assert time.monotonic() < deadline, "the first result never came"
            time.sleep(0.1)
        return vote

    def client(self, node: str, script: str, **config: Any) -> dict[str, Any]:
        """Run ``js/<script>.mjs`` with ``config`` (plus the URLs); return the JSON it prints."""
        config = {"http": self.http, "ws": self.ws, **config}
        done = subprocess.run(
            [node, f"{script}.mjs"],
            cwd=JS,
            input=json.dumps(config),
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert done.returncode == 0, f"{script}.mjs failed:\n{done.stderr}\n{done.stdout}"
        result: dict[str, Any] = json.loads(done.stdout)
        return result


@pytest.fixture(scope="session")
def server(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("serve")
    # CORS_ALLOWED_ORIGINS is left to its default, the websocket origins.
    env = {**embedded_env(workdir), "WEBSOCKET_ALLOWED_ORIGINS": FRONT_END}
    env.pop("CORS_ALLOWED_ORIGINS", None)
    process = ServerProcess(env=env, workdir=workdir)
    process.manage("migrate", "--no-input")
    try:
        yield Server(process, process.start("serve"), process.tokens("ann", "ben", "cat"))
    finally:
        process.stop()


def without_typename(value: Any) -> Any:
    """Return ``value`` without the ``__typename`` fields Apollo adds to every object."""
    if isinstance(value, dict):
        return {k: without_typename(v) for k, v in value.items() if k != "__typename"}
    if isinstance(value, list):
        return [without_typename(v) for v in value]
    return value


def assert_client_lives(server: Server, node: str, script: str, **options: Any) -> None:
    """Ben casts BALLOT with ``script`` on a fresh decision; both subscriptions see it counted."""
    decision = server.decision()
    seen = server.client(
        node,
        script,
        mode="live",
        token=decision.tokens["ben"],
        decisionId=decision.decision,
        choices=decision.choices,
        stars=BALLOT,
        expectTotals=BALLOT,
        **options,
    )
    seen = without_typename(seen)
    assert seen["errors"] == []
    assert seen["cast"]["errors"] == []
    [queued] = seen["cast"]["calculations"]
    assert queued["status"] == "QUEUED"
    counted = seen["counted"]
    assert counted["participation"] == {"directBallots": 1}
    totals = {s["choice"]["title"]: Decimal(s["totalStars"]) for s in counted["scores"]}
    assert totals == {title: Decimal(stars) for title, stars in BALLOT.items()}
    # The status stream follows the calculation that produced the result, in order.
    steps = [s["status"] for s in seen["statuses"] if s["id"] == counted["calculationId"]]
    assert steps[-1] == "COMPLETED"
    assert steps == sorted(steps, key=STATUSES.index), steps
    if "query" in seen:
        assert seen["query"]["errors"] == []
        found = seen["query"]["data"]["decision"]
        assert found["id"] == decision.decision
        assert {c["title"]: c["id"] for c in found["choices"]} == decision.choices


def assert_client_refuses_unknown_decision(server: Server, node: str, script: str) -> None:
    """Reading, following or voting on an unknown decision fails cleanly, with a code."""
    seen = server.client(
        node,
        script,
        mode="unknownDecision",
        token=server.tokens["ann"],
        decisionId=UNKNOWN_DECISION,
    )
    seen = without_typename(seen)
    [error] = seen["subscription"]["errors"]
    assert error["code"] is not None
    assert error["message"].startswith("No decision has this ID")
    if "query" in seen:
        assert seen["query"] == {"data": {"decision": None}, "errors": []}
    if "cast" in seen:
        assert seen["cast"]["errors"] == []
        [user_error] = seen["cast"]["data"]["castBallot"]["errors"]
        assert (user_error["code"], user_error["field"]) == ("INVALID_ID", "decisionId")
