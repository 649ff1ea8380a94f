"""core.inbox: the one-reader queue each websocket keeps instead of an asyncio.Queue."""

from __future__ import annotations

import asyncio

import pytest

from core.inbox import Inbox


async def test_items_come_out_in_the_order_they_went_in() -> None:
    inbox: Inbox[int] = Inbox()
    for item in (1, 2, 3):
        inbox.put_nowait(item)

    assert inbox.qsize() == 3
    assert [await inbox.get() for _ in range(3)] == [1, 2, 3]
    assert inbox.empty()


async def test_a_reader_waits_until_an_item_arrives() -> None:
    inbox: Inbox[str] = Inbox()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()

    inbox.put_nowait("hello")

    assert await asyncio.wait_for(reader, 5) == "hello"


async def test_a_cancelled_read_loses_nothing() -> None:
    inbox: Inbox[str] = Inbox()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader

    inbox.put_nowait("kept")

    assert await inbox.get() == "kept"


async def test_two_readers_at_once_are_refused() -> None:
    inbox: Inbox[str] = Inbox()
    first = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="one reader"):
        await inbox.get()
    first.cancel()


async def test_an_emptied_inbox_lets_its_buffer_go() -> None:
    inbox: Inbox[int] = Inbox()
    inbox.put_nowait(1)
    assert inbox._items is not None

    await inbox.get()

    assert inbox._items is None
    assert not hasattr(inbox, "__dict__")
