"""A first-in first-out queue with one reader, for what each websocket holds while idle.

``asyncio.Queue`` costs about 3.5 KB even when empty (three deques and an Event with a
fourth, each deque 760 bytes); an idle websocket kept two of them, for daphne's messages to
the application and strawberry's to its handler. ``Inbox`` holds nothing while empty but
the reader's future, so ten thousand idle sockets cost ~70 MB less.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    """``put_nowait`` and ``get`` of an unbounded ``asyncio.Queue``, for a single reader."""

    __slots__ = ("_items", "_reader")

    def __init__(self) -> None:
        self._items: deque[T] | None = None  # only while something waits to be read
        self._reader: asyncio.Future[None] | None = None

    def put_nowait(self, item: T) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)

    async def get(self) -> T:
        if self._reader is not None:
            raise RuntimeError("An Inbox has one reader at a time.")
        while not self._items:
            self._reader = asyncio.get_running_loop().create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items
