"""Clients that read slowly or not at all, on real sockets against a real ``serve``.

The server is told to hold back results as soon as a client has anything unread
(``WEBSOCKET_BACKLOG_BYTES=1``) and to give up on it after 6 s behind. The decision has 50
choices with long descriptions, so that a few results overflow the kernel's buffers. A
client that pauses reading gets, once it reads again, the newest result last (older ones
may be skipped); a client that never reads again is disconnected instead of buffered for
ever.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from devtools.wsflock import Subscriber, open_all, subscribe_message
from tests.e2e.conftest import HttpGraphQL, ServerProcess
from tests.e2e.scenarios import CAST, CREATE_COMMUNITY, PUBLISH

pytestmark = pytest.mark.e2e

RESULTS = """subscription($id: ID!) { decisionResults(decisionId: $id) {
  calculationId scores { choice { title } totalStars } } }"""
# About 100 KB per result.
LARGE_RESULTS = """subscription($id: ID!) { decisionResults(decisionId: $id) {
  calculationId scores { choice { title description } totalStars } } }"""
CREATE_DECISION = """mutation($c: ID!, $closes: DateTime!, $choices: [ChoiceInput!]!) {
  createDecision(input: {communityId: $c, title: "Large", closesAt: $closes, choices: $choices}) {
  decision { id choices { id title } } errors { code } } }"""
CHOICES = 50
OPERATIONS = 20  # subscriptions on the slow socket: 2 MB per result
SLOW_CLIENT_CLOSED = "Closed a websocket that stopped reading"


class LargeDecision:
    """A public decision whose results are large; ann casts ballots on the first two choices."""

    def __init__(self, api: HttpGraphQL, token: str) -> None:
        self.api, self.token = api, token
        created = api(CREATE_COMMUNITY, token)["createCommunity"]["community"]["id"]
        closes = (datetime.now(UTC) + timedelta(days=3)).isoformat()
        choices = [{"title": f"Choice {n}", "description": "x" * 2_000} for n in range(CHOICES)]
        answer = api(CREATE_DECISION, token, c=created, closes=closes, choices=choices)
        decision = answer["createDecision"]["decision"]
        self.id = decision["id"]
        self.choices = [c["id"] for c in decision["choices"]]
        assert api(PUBLISH, token, id=self.id)["publishDecision"]["errors"] == []

    def cast(self, first: int, second: int) -> dict[str, Decimal]:
        """Cast ann's ballot; return the totals of the first two choices it leads to."""
        stars = [
            {"choiceId": self.choices[0], "stars": first},
            {"choiceId": self.choices[1], "stars": second},
        ]
        answer = self.api(CAST, self.token, d=self.id, stars=stars)["castBallot"]
        assert answer["errors"] == []
        return {"Choice 0": Decimal(first), "Choice 1": Decimal(second)}


@pytest.fixture
def served(embedded: ServerProcess) -> tuple[ServerProcess, int, LargeDecision]:
    embedded.env.update({"WEBSOCKET_BACKLOG_BYTES": "1", "WEBSOCKET_STALL_SECONDS": "6"})
    port = embedded.start("serve")
    api = HttpGraphQL(f"http://127.0.0.1:{port}/graphql")
    return embedded, port, LargeDecision(api, embedded.tokens("ann")["ann"])


def newest(subscriber: Subscriber, op_id: str) -> dict[str, Decimal] | None:
    for _, raw in reversed(subscriber.events):
        message = json.loads(raw)
        if message.get("type") == "next" and message["id"] == op_id:
            scores = message["payload"]["data"]["decisionResults"]["scores"]
            first_two = ("Choice 0", "Choice 1")
            return {
                s["choice"]["title"]: Decimal(s["totalStars"])
                for s in scores
                if s["choice"]["title"] in first_two
            }
    return None


async def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


async def slow_socket(port: int, decision_id: str) -> Subscriber:
    """A socket with a tiny receive buffer and OPERATIONS subscriptions to large results."""
    subscribe = subscribe_message(LARGE_RESULTS, {"id": decision_id}, "op0")
    subscriber = Subscriber("127.0.0.1", port, "/graphql", subscribe, rcvbuf=4096)
    await subscriber.open()
    for index in range(1, OPERATIONS):
        subscriber.send_text(subscribe_message(LARGE_RESULTS, {"id": decision_id}, f"op{index}"))
    await until(lambda: newest(subscriber, f"op{OPERATIONS - 1}") is not None)
    return subscriber


def test_a_client_that_pauses_gets_the_newest_result_last(
    served: tuple[ServerProcess, int, LargeDecision],
) -> None:
    _, port, decision = served
    url = f"ws://127.0.0.1:{port}/graphql"

    async def scenario() -> None:
        (watcher,), _ = await open_all([url], 1, subscribe_message(RESULTS, {"id": decision.id}))
        slow = await slow_socket(port, decision.id)
        assert slow.transport is not None
        slow.transport.pause_reading()
        for first, second in [(5, 1), (2, 4), (3, 3)]:
            want = await asyncio.to_thread(decision.cast, first, second)
            await until(lambda want=want: newest(watcher, "1") == want)
        slow.transport.resume_reading()  # within the 6 s: still connected
        await until(lambda: all(newest(slow, f"op{i}") == want for i in range(OPERATIONS)))
        await asyncio.sleep(0.5)
        assert all(newest(slow, f"op{i}") == want for i in range(OPERATIONS))
        assert slow.lost == 0
        assert slow.closes == []
        slow.close()
        watcher.close()

    asyncio.run(scenario())


def test_a_client_that_stops_reading_is_disconnected(
    served: tuple[ServerProcess, int, LargeDecision],
) -> None:
    server, port, decision = served
    url = f"ws://127.0.0.1:{port}/graphql"
    log = server.workdir / f"serve-{port}.log"

    async def scenario() -> None:
        (watcher,), _ = await open_all([url], 1, subscribe_message(RESULTS, {"id": decision.id}))
        slow = await slow_socket(port, decision.id)
        assert slow.transport is not None
        slow.transport.pause_reading()
        for round_ in range(1, 7):
            want = await asyncio.to_thread(decision.cast, round_ % 6, (round_ + 2) % 6)
            await until(lambda want=want: newest(watcher, "1") == want)
            if SLOW_CLIENT_CLOSED in log.read_text():
                break
        await until(lambda: SLOW_CLIENT_CLOSED in log.read_text(), timeout=15)
        # The server dropped the connection: what the client reads now ends with it.
        slow.transport.resume_reading()
        await until(lambda: slow.lost == 1, timeout=15)
        # The healthy subscriber was not held up.
        assert watcher.lost == 0
        watcher.close()

    asyncio.run(scenario())
