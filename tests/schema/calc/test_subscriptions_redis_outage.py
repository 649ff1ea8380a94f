"""Websockets through a Redis outage: no crash, a clear error, and what was missed afterwards."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

import calc.layer
import calc.services
from calc.broadcast import group_name
from calc.services import decision_calculate
from devtools.benchsetup import free_port
from tests.factories import BallotFactory, MembershipFactory
from tests.schema.conftest import gid
from tests.schema.sockets import RESULTS, next_payload, open_socket, subscribe

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def health(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that has seen no outage yet (the outage of one test must not leak)."""
    monkeypatch.setattr(calc.layer, "health", calc.layer.LayerHealth())


@pytest.fixture
async def redis_away(settings: Any) -> AsyncIterator[None]:
    """A Redis channel layer whose server is not there (nothing listens on its port)."""
    hosts = [{"address": f"redis://127.0.0.1:{free_port()}/0", "socket_timeout": None}]
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": hosts}}
    }
    yield
    watch = calc.layer._watches.pop(asyncio.get_running_loop(), None)
    if watch is not None:
        watch.task.cancel()


async def test_a_subscription_opened_while_redis_is_away_gets_a_clear_error(voting, redis_away):
    _, decision, token = voting
    socket = await open_socket(token)  # Acknowledged: the socket itself does not need Redis.
    for op in ("first", "again"):
        await subscribe(socket, op, RESULTS, id=gid(decision))
        message = await socket.receive_json_from(timeout=10)
        assert message["type"] == "next", message
        [error] = message["payload"]["errors"]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert error["message"] == (
            "Live updates are unavailable right now; try again in a few seconds."
        )
        assert (await socket.receive_json_from(timeout=5))["type"] == "complete"
    await socket.disconnect()


class FakeWatch:
    """Stands in for calc.layer's watch: the test says when Redis is back."""

    def __init__(self) -> None:
        self.watchers: weakref.WeakSet[Any] = weakref.WeakSet()
        self.up = asyncio.Event()
        self.up.set()

    async def redis_back(self) -> None:
        for watcher in list(self.watchers):
            await watcher.layer_returned()


async def test_after_redis_returns_a_socket_rejoins_and_gets_what_it_missed(voting, monkeypatch):
    member, decision, token = voting
    watch = FakeWatch()
    monkeypatch.setattr(calc.layer, "layer_watch", lambda layer: watch)
    await sync_to_async(decision_calculate)(decision.pk)
    socket = await open_socket(token)
    await subscribe(socket, "r", RESULTS, id=gid(decision))
    await next_payload(socket)

    layer = get_channel_layer()
    layer.groups.pop(group_name(decision.pk))  # What a Redis restart does to every group.
    other = await sync_to_async(MembershipFactory)(community=member.community)
    await sync_to_async(BallotFactory)(decision=decision, membership=other, stars={"road": 5})
    await sync_to_async(decision_calculate)(decision.pk)
    assert await socket.receive_nothing(timeout=0.3)  # Its broadcast reached nobody.

    await watch.redis_back()
    missed = await next_payload(socket)
    assert missed["data"]["decisionResults"]["winner"] == {"title": "road"}
    assert await socket.receive_nothing(timeout=0.3)  # Sent once, not once per stage.

    newest = await sync_to_async(MembershipFactory)(community=member.community)
    await sync_to_async(BallotFactory)(decision=decision, membership=newest, stars={"park": 5})
    await sync_to_async(decision_calculate)(decision.pk)
    rejoined = await next_payload(socket)
    assert rejoined["data"]["decisionResults"]["winner"] == {"title": "park"}
    await socket.disconnect()
