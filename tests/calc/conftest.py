"""Fixtures for calculation tests: a clean in-memory channel layer and no debounce."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer
from django.db import connection
from django.test import override_settings

from calc.models import Calculation, Change
from calc.services import decision_calculate
from democracy.models import Decision
from tests.democracy.conftest import events

__all__ = ["events"]


@pytest.fixture(autouse=True)
def layer() -> Iterator[BaseChannelLayer]:
    """Return the in-memory channel layer, emptied before and after the test.

    Its queues bind to the first event loop that waits on them, so each test starts afresh.
    """
    channel_layer = get_channel_layer()
    assert channel_layer is not None
    async_to_sync(channel_layer.flush)()
    with override_settings(CALC_DEBOUNCE_MS=0):
        yield channel_layer
    async_to_sync(channel_layer.flush)()


async def _drain(channel_layer: BaseChannelLayer, channel: str, wait: float) -> list[Any]:
    messages = []
    while True:
        try:
            messages.append(await asyncio.wait_for(channel_layer.receive(channel), wait))
        except TimeoutError:
            return messages


def received(channel_layer: BaseChannelLayer, channel: str, wait: float = 0.05) -> list[Any]:
    """Return every message waiting on ``channel`` (from sync code)."""
    return async_to_sync(_drain)(channel_layer, channel, wait)


def subscribe(channel_layer: BaseChannelLayer, decision_id: int) -> str:
    """Return a new channel that is a member of the decision's broadcast group."""
    channel = async_to_sync(channel_layer.new_channel)()
    async_to_sync(channel_layer.group_add)(f"decision.{decision_id}", channel)
    return channel


def calculated_around(
    decision_id: int, table: str, change: Callable[[], object], *, starting: str = ""
) -> list[Any]:
    """Calculate the decision in another thread, held at its first statement on ``table``
    (that starts with ``starting``; inside its read, after the generation) while ``change``
    runs here and commits; return the calculations that ran."""
    reached, committed = threading.Event(), threading.Event()

    def hold(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if f'"{table}"' in sql and sql.startswith(starting) and not reached.is_set():
            reached.set()
            assert committed.wait(10)
        return execute(sql, params, many, context)

    def calculate() -> list[Calculation]:
        try:
            with connection.execute_wrapper(hold):
                return decision_calculate(decision_id, owner="held-worker")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(calculate)
        assert reached.wait(10)
        try:
            change()
        finally:
            committed.set()
        return running.result(timeout=30)


def settled(decision: Decision) -> bool:
    """Whether every change to ``decision`` was stamped and its last generation calculated."""
    current = Decision.objects.get(pk=decision.pk)
    waiting = Change.objects.filter(decision=decision, generation__isnull=True).exists()
    return not waiting and current.calc_completed_gen == current.calc_requested_gen


def logged(decision: Decision) -> int:
    """How many changes ``decision``'s log holds: one per request for its recalculation."""
    return Change.objects.filter(decision=decision).count()


def log_analyzed() -> None:
    """Gather the change log's statistics now, as autovacuum does (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{Change._meta.db_table}"')


def rows_read_from_the_log() -> int:
    """The rows this transaction's scans have returned from the change log (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
            "FROM pg_stat_xact_user_tables WHERE relname = %s",
            [Change._meta.db_table],
        )
        return int(cursor.fetchone()[0])
