"""A crowd on one public decision: every subscriber gets the newest result, computed once.

Real sockets against a real ``serve``: 300 anonymous subscribers split over two different
subscription documents (two distinct operations), plus one on the older graphql-ws
protocol. The server logs each payload it computes (``LOG_LEVEL=DEBUG``); per result there
must be one per operation, not one per socket.
"""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from devtools.wsflock import Subscriber, open_all, subscribe_message
from tests.e2e.conftest import HttpGraphQL, ServerProcess
from tests.e2e.scenarios import PublicDecision
from tests.e2e.wsclient import LEGACY_WS, GraphQLSocket

pytestmark = pytest.mark.e2e

CROWD = 300
RESULTS = """subscription($id: ID!) { decisionResults(decisionId: $id) {
  calculationId scores { choice { title } totalStars } } }"""
# Another operation on the same decision: its own payload, shared by its own half.
RESULTS_WINNER = """subscription($id: ID!) { decisionResults(decisionId: $id) {
  calculationId winner { title } scores { choice { title } totalStars } } }"""
COMPUTED = re.compile(r"Payload computed once for (\d+) subscriber\(s\) \((\d+) computed so far\)")
BALLOTS = [("ann", 5, 1), ("ben", 2, 4), ("cat", 3, 3)]


def totals(data: dict[str, Any]) -> dict[str, Decimal]:
    scores = data["decisionResults"]["scores"]
    return {s["choice"]["title"]: Decimal(s["totalStars"]) for s in scores}


def last_totals(subscriber: Subscriber) -> dict[str, Decimal] | None:
    for _, raw in reversed(subscriber.events):
        message = json.loads(raw)
        if message.get("type") == "next":
            return totals(message["payload"]["data"])
    return None


def computed(log: Path) -> list[tuple[int, int]]:
    return [(int(m[1]), int(m[2])) for m in COMPUTED.finditer(log.read_text())]


def test_a_crowd_gets_the_newest_result_computed_once_per_operation(
    embedded: ServerProcess,
) -> None:
    embedded.env["LOG_LEVEL"] = "DEBUG"
    port = embedded.start("serve")
    log = embedded.workdir / f"serve-{port}.log"
    api = HttpGraphQL(f"http://127.0.0.1:{port}/graphql")
    decision = PublicDecision(api, embedded.tokens("ann", "ben", "cat"))
    url = f"ws://127.0.0.1:{port}/graphql"

    async def scenario() -> None:
        crowds = await asyncio.gather(
            open_all([url], CROWD // 2, subscribe_message(RESULTS, {"id": decision.id})),
            open_all([url], CROWD // 2, subscribe_message(RESULTS_WINNER, {"id": decision.id})),
        )
        subscribers = [s for crowd, failed in crowds for s in crowd]
        assert [failed for _, failed in crowds] == [0, 0]
        async with GraphQLSocket(url, None, LEGACY_WS) as legacy:
            await legacy.subscribe("results", RESULTS, id=decision.id)
            await legacy.wait_for("results", lambda _: True)
            await _until(lambda: all(s.events for s in subscribers))
            before = computed(log)[-1][1]

            want: dict[str, Decimal] = {}
            for name, park, road in BALLOTS:
                await asyncio.to_thread(decision.cast, name, park, road)
                want = {
                    "Park": want.get("Park", Decimal(0)) + park,
                    "Road": want.get("Road", Decimal(0)) + road,
                }
                await _until(lambda want=want: all(last_totals(s) == want for s in subscribers))
            await legacy.wait_for("results", lambda event: totals(event) == want)
            await asyncio.sleep(0.5)  # nothing more is coming

            assert all(last_totals(s) == want for s in subscribers)
            # Every payload computed during the ballots went to a whole half of the crowd
            # (plus the legacy socket, which shares the first document's payloads).
            during = [entry for entry in computed(log) if entry[1] > before]
            assert during, "no payload logged"
            assert {count for count, _ in during} <= {CROWD // 2, CROWD // 2 + 1}
            # One payload per operation and result: what one subscriber of each half got.
            first, second = subscribers[0], subscribers[-1]
            news = sum(len([e for e in s.events if b'"next"' in e[1]]) - 1 for s in (first, second))
            assert len(during) == news
            assert len(during) <= 2 * len(BALLOTS) * 5  # a few statuses each at most
        for subscriber in subscribers:
            subscriber.close()

    asyncio.run(scenario())


async def _until(condition: Any, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the crowd did not get there in time")
        await asyncio.sleep(0.1)
