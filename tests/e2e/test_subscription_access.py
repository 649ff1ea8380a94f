"""Open subscriptions end within a second of access being withdrawn, on real servers.

Embedded: `serve` with its in-memory layer. Distributed: the change is made on one daphne
server and the subscription ends on the other, through Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.e2e.conftest import Distributed, HttpGraphQL, ServerProcess
from tests.e2e.helpers import RESULTS, Vote
from tests.e2e.wsclient import GraphQLSocket

pytestmark = pytest.mark.e2e

SIGN_OUT = "mutation { signOut { ok } }"
UNAPPROVE = """mutation($m: ID!) { updateMembership(input: {membershipId: $m, isApproved: false}) {
  errors { code } } }"""
MAKE_PRIVATE = """mutation($c: ID!) {
  updateCommunity(input: {communityId: $c, resultsArePublic: false}) { errors { code } } }"""
MAKE_PUBLIC = """mutation($c: ID!) {
  updateCommunity(input: {communityId: $c, resultsArePublic: true}) { errors { code } } }"""


async def ended_within(socket: GraphQLSocket, op: str, change: Callable[[], object]) -> str:
    """Make ``change`` and return the error code that ended ``op``, asserting it took < 1 s."""
    await socket.wait_for(op, lambda event: True, timeout=30)  # The current result first.
    started = time.monotonic()
    await asyncio.to_thread(change)
    while op not in socket.completed:
        assert time.monotonic() - started < 1.0, f"{op} still open after 1 s"
        await asyncio.sleep(0.02)
    (errors,) = socket.errors[op]
    return str(errors[0]["extensions"]["code"])


def scenario(vote: Vote, changes: HttpGraphQL, ws_url: str) -> None:
    async def run() -> None:
        ann, ben, cat = (vote.tokens[name] for name in ("ann", "ben", "cat"))
        async with GraphQLSocket(ws_url, ben) as socket:
            await socket.subscribe("ben", RESULTS, id=vote.decision)
            code = await ended_within(socket, "ben", lambda: changes(SIGN_OUT, ben))
            assert code == "UNAUTHENTICATED"
        async with GraphQLSocket(ws_url, cat) as socket:
            await socket.subscribe("cat", RESULTS, id=vote.decision)
            code = await ended_within(
                socket, "cat", lambda: changes(UNAPPROVE, ann, m=vote.members["cat"])
            )
            assert code == "FORBIDDEN"
        assert changes(MAKE_PUBLIC, ann, c=vote.community)["updateCommunity"]["errors"] == []
        async with GraphQLSocket(ws_url) as socket:
            await socket.subscribe("visitor", RESULTS, id=vote.decision)
            code = await ended_within(
                socket, "visitor", lambda: changes(MAKE_PRIVATE, ann, c=vote.community)
            )
            assert code == "FORBIDDEN"

    asyncio.run(run())


def test_withdrawn_access_ends_subscriptions_on_serve(embedded: ServerProcess) -> None:
    port = embedded.start("serve")
    api = HttpGraphQL(f"http://127.0.0.1:{port}/graphql")
    vote = Vote(api, embedded.tokens("ann", "ben", "cat"))
    scenario(vote, api, f"ws://127.0.0.1:{port}/graphql")


@pytest.mark.distributed
def test_withdrawn_access_on_one_server_ends_subscriptions_on_another(
    distributed: Distributed,
) -> None:
    server_a, server_b = distributed.servers(2)
    distributed.workers(1)
    vote = Vote(server_a, distributed.tokens("ann", "ben", "cat"))
    scenario(vote, server_b, str(server_a.url).replace("http://", "ws://"))
