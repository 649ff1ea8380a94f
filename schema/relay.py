"""One channel-layer listener per process and group, fanning each message out locally.

A crowd watching one decision would otherwise put one channel per socket into the group
``decision.<id>``, and every broadcast would cost the layer (and Redis) one delivery per
socket. Here a process joins a group once, with a channel of its own, and hands each
message to the local listeners (shared subscription feeds, HTTP streams).

It rides out Redis outages as sockets do (``calc.layer``): the receive waits, and when Redis
is back the groups are joined again and each decision's listeners get the state they missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from graphql import GraphQLError

from calc import layer as layer_health
from calc.broadcast import decision_of_group, state_messages

logger = logging.getLogger("crowdvote.fanout")
UNAVAILABLE = "Live updates are unavailable right now; try again in a few seconds."


class _Group:
    """This process's membership of one group and the queues it feeds."""

    def __init__(self, relay: GroupRelay, name: str, channel: str) -> None:
        self.relay, self.name, self.channel = relay, name, channel
        # Each queue with its listener's number: a message goes first to the listeners
        # that started first, as subscriptions of one socket used to get it in order.
        self.queues: dict[asyncio.Queue[Any], int] = {}
        self.task = asyncio.get_running_loop().create_task(self._receive())

    async def _receive(self) -> None:
        layer = self.relay.layer
        while True:
            try:
                message = await layer_health.receive(layer, self.channel, watcher=self)
            except asyncio.CancelledError:
                raise
            except Exception:  # A layer that fails otherwise: keep the group served.
                logger.warning("Receiving for %s failed", self.name, exc_info=True)
                await asyncio.sleep(1.0)
                continue
            self.deliver(message)

    def deliver(self, message: Any) -> None:
        for queue, _ in sorted(self.queues.items(), key=lambda item: item[1]):
            queue.put_nowait(message)

    async def layer_returned(self) -> None:
        """Redis is back (or restarted): join again, then pass on the state missed meanwhile."""
        try:
            await self.relay.layer.group_add(self.name, self.channel)
        except layer_health.LAYER_ERRORS:
            return  # Gone again: called once more when it is back.
        decision_id = decision_of_group(self.name)
        if decision_id is None:
            return
        for message in await database_sync_to_async(state_messages)(decision_id):
            self.deliver(message)


class GroupRelay:
    """The groups this process (one event loop) listens to, each joined once."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.groups: dict[str, _Group] = {}
        self.lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def listen(
        self, groups: Sequence[str], order: int = 0
    ) -> AsyncIterator[asyncio.Queue[Any]]:
        """Yield a queue of every message sent to ``groups`` while the block runs.

        ``order``: among the listeners of a group, lower numbers get each message first.

        Raises what the layer raises (a Redis outage) if a group cannot be joined.
        """
        queue: asyncio.Queue[Any] = asyncio.Queue()
        try:
            for name in groups:
                await self._join(name, queue, order)
            yield queue
        finally:
            for name in groups:
                self._leave(name, queue)

    async def _join(self, name: str, queue: asyncio.Queue[Any], order: int) -> None:
        async with self.lock:
            group = self.groups.get(name)
            if group is None:
                channel = await self.layer.new_channel()
                await self.layer.group_add(name, channel)
                group = self.groups[name] = _Group(self, name, channel)
            else:
                # Memberships expire (channels-redis ``group_expiry``): renew on each join.
                await self.layer.group_add(name, group.channel)
            group.queues[queue] = order

    def _leave(self, name: str, queue: asyncio.Queue[Any]) -> None:
        group = self.groups.get(name)
        if group is None:
            return
        group.queues.pop(queue, None)
        if group.queues:
            return
        del self.groups[name]
        group.task.cancel()
        task = asyncio.get_running_loop().create_task(self._discard(name, group.channel))
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _discard(self, name: str, channel: str) -> None:
        with contextlib.suppress(Exception):  # Left anyway once the membership expires.
            await self.layer.group_discard(name, channel)


_background: set[asyncio.Task[None]] = set()
_listeners = itertools.count()
_relays: dict[asyncio.AbstractEventLoop, GroupRelay] = {}


def group_relay() -> GroupRelay:
    """Return this event loop's relay on the default channel layer."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("Subscriptions need a channel layer (CHANNEL_LAYERS).")
    loop = asyncio.get_running_loop()
    relay = _relays.get(loop)
    if relay is None or relay.layer is not layer:
        for stale in [other for other in _relays if other.is_closed()]:
            del _relays[stale]
        relay = _relays[loop] = GroupRelay(layer)
    return relay


class RelayListener:
    """``listen_to_channel`` of strawberry's websocket consumer, served by the relay.

    Subscription resolvers get one as ``context["ws"]``; ``scope`` holds what a websocket's
    scope would (user, session, the bearer token's id) for their access checks.
    """

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope
        self.order = next(_listeners)  # listeners started earlier hear each message first

    @contextlib.asynccontextmanager
    async def listen_to_channel(
        self, type: str, *, timeout: float | None = None, groups: Sequence[str] = ()
    ) -> AsyncIterator[AsyncGenerator[Any, None]]:
        async with contextlib.AsyncExitStack() as stack:
            try:
                listening = group_relay().listen(groups, self.order)
                queue = await stack.enter_async_context(listening)
            except layer_health.LAYER_ERRORS as error:
                layer_health.health.failed(error)
                raise GraphQLError(
                    UNAVAILABLE, extensions={"code": "SERVICE_UNAVAILABLE"}
                ) from error
            yield self._messages(queue, type, timeout)

    @staticmethod
    async def _messages(
        queue: asyncio.Queue[Any], type: str, timeout: float | None
    ) -> AsyncGenerator[Any, None]:
        while True:
            message = await asyncio.wait_for(queue.get(), timeout)
            if message.get("type") == type:
                yield message
