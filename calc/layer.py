"""Ride out channel layer (Redis) outages: servers and workers keep running without it.

Wake-ups and broadcasts are lossy by design: the sweeper finds a lost wake-up in the
database, and every broadcast carries the whole state. So while Redis is away they are
skipped (one attempt a second finds out when it is back) and calculations go on from the
database. One line is logged when Redis goes away and one when it is back, never a
traceback per message.

Each process that listens on the layer (a server with open websockets, a worker) keeps a
:class:`LayerWatch` on its event loop. It probes Redis, with backoff while it is away, so
listeners wait instead of failing; when Redis is back, or restarted between two probes
(which loses every group membership), it tells its watchers to rejoin their groups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer
from channels_redis.core import RedisChannelLayer
from redis.exceptions import RedisError

# What a Redis outage raises: connection refused or reset, timeouts, a server that answers
# with an error while it loads or fails over.
LAYER_ERRORS: tuple[type[Exception], ...] = (OSError, RedisError)
# Sync sends while Redis is away: one attempt per this many seconds, the others are skipped.
ATTEMPT_SECONDS = 1.0
# The watch's probe: every WATCH_SECONDS while Redis answers; while it does not, after
# RETRY_FIRST_SECONDS, doubling up to RETRY_MAX_SECONDS (so it is seen back within 1 s).
WATCH_SECONDS = 1.0
RETRY_FIRST_SECONDS = 0.25
RETRY_MAX_SECONDS = 1.0
# A probe not answered within this long (a host gone without a word) counts as an outage.
PROBE_SECONDS = 3.0

logger = logging.getLogger("crowdvote.layer")


def _reason(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class LayerHealth:
    """Whether this process last reached Redis; logs each change of state once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._next_attempt = 0.0
        self.recoveries = 0

    @property
    def up(self) -> bool:
        return self._down_since is None

    def failed(self, error: BaseException) -> None:
        with self._lock:
            now = time.monotonic()
            self._next_attempt = now + ATTEMPT_SECONDS
            if self._down_since is not None:
                return
            self._down_since = now
        logger.warning(
            "Redis is unreachable (%s): live updates pause, calculations go on from the "
            "database; reconnecting",
            _reason(error),
            extra={"event": "REDIS_DOWN", "actor": "system"},
        )

    def recovered(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            outage = time.monotonic() - self._down_since
            self._down_since = None
            self.recoveries += 1
        logger.warning(
            "Redis is back after %.1f s: live updates resume",
            outage,
            extra={"event": "REDIS_BACK", "actor": "system"},
        )

    def attempt_allowed(self) -> bool:
        """Whether a sync send should try now: always while up, once a second while down."""
        with self._lock:
            now = time.monotonic()
            if self._down_since is None or now >= self._next_attempt:
                self._next_attempt = now + ATTEMPT_SECONDS
                return True
            return False


health = LayerHealth()


def send_or_skip(send: Callable[..., Awaitable[None]], *args: Any) -> bool:
    """Run a layer call from sync code; False if Redis is away (recorded, not raised)."""
    if not health.attempt_allowed():
        return False
    try:
        async_to_sync(send)(*args)
    except LAYER_ERRORS as error:
        health.failed(error)
        return False
    health.recovered()
    return True


class Watcher(Protocol):
    async def layer_returned(self) -> None: ...


async def _probe(layer: RedisChannelLayer) -> tuple[str, ...]:
    """Return each Redis host's run id (it changes when the server restarts)."""
    ids = []
    for index in range(layer.ring_size):
        info = await asyncio.wait_for(layer.connection(index).info("server"), PROBE_SECONDS)
        ids.append(str(info.get("run_id", "")))
    return tuple(ids)


async def _drop_idle_connections(layer: RedisChannelLayer) -> None:
    """Close pooled connections made before the outage: each would fail once on first use."""
    for index in range(layer.ring_size):
        await layer.connection(index).connection_pool.disconnect(inuse_connections=False)


class LayerWatch:
    """Probe Redis from one event loop; hold listeners while it is away, rejoin after."""

    def __init__(self, layer: RedisChannelLayer) -> None:
        self.layer = layer
        self.up = asyncio.Event()
        self.up.set()
        self.watchers: weakref.WeakSet[Any] = weakref.WeakSet()
        self.task = asyncio.get_running_loop().create_task(self._watch())

    def down(self, error: BaseException) -> None:
        health.failed(error)
        self.up.clear()

    async def _watch(self) -> None:
        known: tuple[str, ...] | None = None
        recoveries = health.recoveries
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                ids = await _probe(self.layer)
            except LAYER_ERRORS as error:
                self.down(error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            delay = RETRY_FIRST_SECONDS
            restarted = known is not None and ids != known
            known = ids
            noticed = not self.up.is_set() or not health.up or health.recoveries != recoveries
            if restarted or noticed:
                if restarted and not noticed:
                    logger.warning(
                        "Redis restarted: rejoining broadcast groups",
                        extra={"event": "REDIS_BACK", "actor": "system"},
                    )
                await self._returned()
                recoveries = health.recoveries
            await asyncio.sleep(WATCH_SECONDS)

    async def _returned(self) -> None:
        # Should Redis be gone again, the next probe says so.
        with contextlib.suppress(*LAYER_ERRORS):
            await _drop_idle_connections(self.layer)
        health.recovered()
        self.up.set()
        for watcher in list(self.watchers):
            task = asyncio.get_running_loop().create_task(watcher.layer_returned())
            _background.add(task)
            task.add_done_callback(_background.discard)


_background: set[asyncio.Task[None]] = set()
_watches: dict[asyncio.AbstractEventLoop, LayerWatch] = {}


def layer_watch(layer: BaseChannelLayer | None) -> LayerWatch | None:
    """Return this event loop's watch on ``layer``; None for a layer that cannot go away."""
    if not isinstance(layer, RedisChannelLayer):
        return None  # The in-memory layer lives in this process.
    loop = asyncio.get_running_loop()
    watch = _watches.get(loop)
    if watch is None or watch.task.done() or watch.layer is not layer:
        for stale in [other for other in _watches if other.is_closed()]:
            del _watches[stale]
        watch = _watches[loop] = LayerWatch(layer)
    return watch


async def receive(layer: BaseChannelLayer, channel: str, watcher: Watcher | None = None) -> Any:
    """Receive from ``channel``, waiting out Redis outages instead of raising.

    ``watcher.layer_returned()`` is called each time Redis comes back (or restarted).
    """
    watch = layer_watch(layer)
    if watch is not None and watcher is not None:
        watch.watchers.add(watcher)
    while True:
        try:
            return await layer.receive(channel)
        except LAYER_ERRORS as error:
            if watch is None:
                raise
            watch.down(error)
            await watch.up.wait()
