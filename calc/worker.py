"""The Channels worker: wake-ups on channel ``calc``, a runner off the event loop, a sweeper.

Engine work runs in threads (``sync_to_async(thread_sensitive=False)``) so the event loop
that serves websockets in the embedded setup never waits for a calculation.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import socket
from typing import Any

from asgiref.sync import sync_to_async
from channels.consumer import AsyncConsumer
from channels.layers import InMemoryChannelLayer
from channels.worker import Worker
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from calc import layer
from calc.kept import kept_states
from calc.queue import CALC_CHANNEL
from calc.services import calculations_fail_stuck, decision_calculate, decisions_due
from core.errors import DomainError
from democracy.models import Decision, DecisionStatus
from democracy.services.decisions import decision_close_due

logger = logging.getLogger(__name__)


class CalcRunner:
    """Run decision calculations, at most ``CALC_MAX_CONCURRENT`` at once in this process.

    A wake-up for a decision already running here is remembered and run once more after it,
    so nothing that arrived during a calculation is left behind.
    """

    def __init__(self, max_concurrent: int) -> None:
        self.semaphore = asyncio.Semaphore(max_concurrent)
        self.running: set[int] = set()
        self.again: set[int] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    def schedule(self, decision_id: int) -> None:
        if decision_id in self.running:
            self.again.add(decision_id)
            return
        self.running.add(decision_id)
        task = asyncio.get_running_loop().create_task(self._run(decision_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, decision_id: int) -> None:
        try:
            async with self.semaphore:
                await sync_to_async(_calculate, thread_sensitive=False)(decision_id)
        except Exception:
            # Already recorded as FAILED with its retry; the sweeper will try again.
            logger.exception("Calculation of decision %s failed", decision_id)
        finally:
            self.running.discard(decision_id)
        if decision_id in self.again:
            self.again.discard(decision_id)
            self.schedule(decision_id)

    async def drain(self) -> None:
        """Wait for every calculation started so far (tests and shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


def _calculate(decision_id: int) -> None:
    try:
        decision_calculate(decision_id)
    finally:
        # The pool thread outlives the call; its connection must not go stale (or leak).
        close_old_connections()


_runners: dict[asyncio.AbstractEventLoop, CalcRunner] = {}


def get_runner() -> CalcRunner:
    """Return this event loop's runner (one per process in practice; one per test loop)."""
    loop = asyncio.get_running_loop()
    runner = _runners.get(loop)
    if runner is None:
        for stale in [other for other in _runners if other.is_closed()]:
            del _runners[stale]
        runner = _runners[loop] = CalcRunner(settings.CALC_MAX_CONCURRENT)
    return runner


def close_due_decisions() -> int:
    """Close open decisions whose closing time has passed; their final calculation follows."""
    closed = 0
    due = Decision.objects.filter(status=DecisionStatus.OPEN, closes_at__lte=timezone.now())
    for decision in due:
        try:
            decision_close_due(decision=decision)
            closed += 1
        except DomainError:
            pass  # Closed by a manager or another worker in the meantime.
    return closed


def sweep() -> list[int]:
    """Repair what lost messages and dead workers left: return the decisions to calculate."""
    close_due_decisions()
    calculations_fail_stuck()
    return decisions_due()


def _sweep_in_thread() -> list[int]:
    try:
        return sweep()
    finally:
        close_old_connections()


async def sweep_once(runner: CalcRunner) -> None:
    for decision_id in await sync_to_async(_sweep_in_thread, thread_sensitive=False)():
        runner.schedule(decision_id)


async def sweep_forever(runner: CalcRunner) -> None:
    while True:
        try:
            await sweep_once(runner)
        except Exception:
            logger.exception("Sweep failed; trying again in %ss", settings.CALC_SWEEP_SECONDS)
        await asyncio.sleep(settings.CALC_SWEEP_SECONDS)


class CalcConsumer(AsyncConsumer):
    """Turns ``calc.wake`` messages into scheduled calculations; never raises."""

    # The worker hands it the wake-ups of channel ``calc``: a channel of its own (which
    # would fail with Redis, and the consumer with it) is never used, so it gets none.
    channel_layer_alias = None

    async def calc_wake(self, message: dict[str, Any]) -> None:
        decision_id = message.get("decision_id")
        if isinstance(decision_id, int) and not isinstance(decision_id, bool):
            get_runner().schedule(decision_id)
        else:
            logger.warning("Ignored a calc.wake message without a decision id: %r", message)


def own_channel_name() -> str:
    """Return a channel name for this worker process alone: ``calc.<host>-<pid>-<random>``."""
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40]
    return f"{CALC_CHANNEL}.{host}-{os.getpid()}-{secrets.token_hex(3)}"


class CalcChannelRouter:
    """Route ``calc`` and every worker's own ``calc.<…>`` channel to ``CalcConsumer``."""

    def __init__(self) -> None:
        self.consumer = CalcConsumer.as_asgi()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        channel = scope.get("channel", "")
        if channel != CALC_CHANNEL and not channel.startswith(f"{CALC_CHANNEL}."):
            raise ValueError(f"No route found for channel {channel!r}")
        await self.consumer(scope, receive, send)


class CalcWorker(Worker):
    """``runworker calc`` with the sweeper: it runs at start and every ``CALC_SWEEP_SECONDS``.

    It also listens on a channel of its own, where the decisions whose state it keeps are
    woken (``calc.queue.wake``), so their next calculation reads only what changed. A Redis
    outage neither stops it nor its sweeper: the listener waits for Redis to come back
    (calc.layer), while the sweeper keeps calculating from the database.
    """

    def __init__(
        self, application: Any, channels: list[str], channel_layer: Any, **kwargs: Any
    ) -> None:
        # In one process (the in-memory layer) this worker is the only one: no channel of
        # its own, whose name would outlive a restart and send wake-ups nowhere.
        if not isinstance(channel_layer, InMemoryChannelLayer):
            kept_states.channel = own_channel_name()
            channels = [*channels, kept_states.channel]
        super().__init__(application, channels, channel_layer, **kwargs)

    async def handle(self) -> None:
        sweeper = asyncio.ensure_future(sweep_forever(get_runner()))
        try:
            await super().handle()
        finally:
            sweeper.cancel()

    async def listener(self, channel: str) -> None:
        while True:
            message = await layer.receive(self.channel_layer, channel)
            if not isinstance(message, dict) or not message.get("type"):
                logger.warning("Ignored a message without a type on %s: %r", channel, message)
                continue
            scope = {"type": "channel", "channel": channel}
            await self.get_or_create_application_instance(channel, scope).put(message)
