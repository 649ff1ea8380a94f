"""What one websocket still has to send: bounded, the newest result wins, stalled readers go.

Daphne takes every frame at once and buffers what the client has not read yet, without
limit. Before each shared result the outbox looks at that buffer: while it holds more than
``WEBSOCKET_BACKLOG_BYTES``, results wait here instead, one per subscription (a newer one
replaces the older, so the newest is never lost), and are sent once the client has caught
up. A client still behind after ``WEBSOCKET_STALL_SECONDS`` has stopped reading: it is
closed with 4408 and a reason, and reconnects to start afresh.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import struct
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

SLOW_CLIENT = 4408
SLOW_REASON = "Too slow: this client stopped reading live updates. Reconnect to resume."
CHECK_SECONDS = 0.25
logger = logging.getLogger("crowdvote.fanout")


def _protocol_of(send: Any) -> Any | None:
    """Return daphne's websocket protocol behind an ASGI ``send``, else None."""
    for _ in range(5):  # Middleware wraps send (sessions keep the inner one as real_send).
        if isinstance(send, functools.partial):
            protocol = send.args[0] if send.args else None
            return protocol if hasattr(protocol, "sendMessage") else None
        send = getattr(getattr(send, "__self__", None), "real_send", None)
        if send is None:
            return None
    return None


def _buffered(transport: Any) -> int:
    """Bytes Twisted holds for the client: written by the server, not yet taken by the kernel."""
    try:
        return int(len(transport.dataBuffer) - transport.offset + transport._tempDataLen)
    except (AttributeError, TypeError):
        return 0


@dataclass(frozen=True, slots=True)
class Frame:
    """A text message, with its websocket frame on the wire (shared by many sockets)."""

    text: str
    wire: bytes

    @classmethod
    def of(cls, text: str) -> Frame:
        data = text.encode()
        size = len(data)
        if size < 126:
            head = struct.pack("!BB", 0x81, size)
        elif size < 65536:
            head = struct.pack("!BBH", 0x81, 126, size)
        else:
            head = struct.pack("!BBQ", 0x81, 127, size)
        return cls(text=text, wire=head + data)


def _write_wire(protocol: Any, wire: bytes) -> None:
    """Write a whole frame to a plain TCP socket, through Twisted only for what is left.

    Twisted would buffer it, watch the socket and write on the next turn of the loop: for
    thousands of sockets that bookkeeping costs more than the writes. Sockets with TLS,
    compression or bytes already waiting go through autobahn as usual.
    """
    transport = protocol.transport
    sock = getattr(transport, "socket", None)
    plain = type(transport).__module__ == "twisted.internet.tcp" and not transport.TLS
    if (
        sock is None
        or not plain
        or transport.disconnecting
        or _buffered(transport)
        or getattr(protocol, "_perMessageCompress", None) is not None
    ):
        protocol.sendMessage(wire[_header_size(wire) :])
        return
    try:
        sent = sock.send(wire)
    except OSError:  # Would block, or the socket is failing: Twisted finds out and says so.
        sent = 0
    if sent < len(wire):
        transport.write(wire[sent:])


def _header_size(wire: bytes) -> int:
    size = wire[1] & 0x7F
    return 2 if size < 126 else 4 if size == 126 else 10


class Outbox:
    """The sending side of one websocket consumer."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        # Under daphne, shared results are handed to its protocol directly: the ASGI path
        # (consumer, session middleware, server) costs more than the rest of a send.
        self.protocol = _protocol_of(consumer.base_send)
        self.pending: dict[str, str | Frame] = {}  # frames waiting for the client, by key
        self.stalled_since: float | None = None

    def backlog(self) -> int:
        transport = getattr(self.protocol, "transport", None)
        return 0 if transport is None else _buffered(transport)

    async def send(self, key: str, frame: str | Frame) -> None:
        """Send ``frame`` now, or keep it (replacing ``key``'s older one) while behind."""
        if self.stalled_since is None and self.backlog() <= settings.WEBSOCKET_BACKLOG_BYTES:
            await self._write(frame)
            return
        self.pending[key] = frame
        if self.stalled_since is None:
            self.stalled_since = time.monotonic()
            _watch(self)

    async def check(self, now: float) -> bool:
        """Send what waited once the client caught up, or close it; True when settled."""
        assert self.stalled_since is not None
        if self.backlog() <= settings.WEBSOCKET_BACKLOG_BYTES:
            frames = list(self.pending.values())
            self.pending.clear()
            self.stalled_since = None
            for frame in frames:
                await self._write(frame)
            return True
        if now - self.stalled_since < settings.WEBSOCKET_STALL_SECONDS:
            return False
        self.pending.clear()
        logger.info("Closed a websocket that stopped reading (%d bytes behind)", self.backlog())
        await self.consumer.close(code=SLOW_CLIENT, reason=SLOW_REASON)
        return True

    async def _write(self, frame: str | Frame) -> None:
        protocol = self.protocol
        if protocol is None:
            await self.consumer.send(frame if isinstance(frame, str) else frame.text)
        elif protocol.state != protocol.STATE_OPEN:
            return  # Closing or closed: nothing more goes out.
        elif isinstance(frame, Frame):
            _write_wire(protocol, frame.wire)
        else:
            protocol.sendMessage(frame.encode())


_stalled: dict[asyncio.AbstractEventLoop, set[Outbox]] = {}
_watchers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


def _watch(outbox: Outbox) -> None:
    loop = asyncio.get_running_loop()
    _stalled.setdefault(loop, set()).add(outbox)
    task = _watchers.get(loop)
    if task is None or task.done():
        _watchers[loop] = loop.create_task(_check_stalled(_stalled[loop]))


async def _check_stalled(stalled: set[Outbox]) -> None:
    """One task per process: settle every outbox that is behind, a few times a second."""
    while stalled:
        await asyncio.sleep(CHECK_SECONDS)
        now = time.monotonic()
        for outbox in list(stalled):
            try:
                settled = await outbox.check(now)
            except Exception:  # A socket that went away meanwhile.
                logger.debug("Settling a websocket failed", exc_info=True)
                settled = True
            if settled:
                stalled.discard(outbox)
