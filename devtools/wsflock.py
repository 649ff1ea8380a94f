"""Thousands of graphql-transport-ws subscribers in one process, cheaply.

A minimal websocket client on asyncio protocols: no per-message task, no JSON parsing
while measuring. Each ``next`` frame is kept raw with its arrival time
(``time.monotonic()``, comparable across processes) and read after the run. A subscriber
whose connection drops reconnects with the jittered exponential backoff of the graphql-ws
client (``retryWait``), as the widget does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import resource
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit; return the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def frame(opcode: int, payload: bytes) -> bytes:
    """Return one client frame, masked with the all-zero key (valid, and free to apply)."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return head + b"\0\0\0\0" + payload


def retry_wait(retries: int) -> float:
    """graphql-ws's default ``retryWait``: 2**retries s plus 0.3-3 s of jitter."""
    return float(2 ** min(retries, 5)) + random.uniform(0.3, 3.0)


@dataclass
class Subscriber(asyncio.Protocol):
    """One socket with one subscription; reconnects when the server goes away."""

    host: str
    port: int
    path: str
    subscribe: bytes
    reconnect: bool = False
    rcvbuf: int | None = None  # a small receive buffer, for clients that stop reading
    events: list[tuple[float, bytes]] = field(default_factory=list)
    connects: int = 0
    closes: list[int] = field(default_factory=list)
    transport: asyncio.Transport | None = None
    buffer: bytearray = field(default_factory=bytearray)
    upgraded: bool = False
    acked: asyncio.Future[None] | None = None
    stopping: bool = False
    lost: int = 0  # connections that ended

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.acked = loop.create_future()
        self.upgraded = False
        self.buffer.clear()
        if self.rcvbuf is None:
            await loop.create_connection(lambda: self, self.host, self.port)
        else:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            sock.setblocking(False)
            await loop.sock_connect(sock, (self.host, self.port))
            await loop.create_connection(lambda: self, sock=sock)
        await self.acked

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[:12])
            del self.buffer[: end + 4]
            if b" 101" not in status:
                self._fail(ConnectionError(f"handshake refused: {status!r}"))
                return
            self.upgraded = True
            self._send(OP_TEXT, b'{"type":"connection_init","payload":{}}')
        self._frames()

    def _frames(self) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            opcode, size, offset = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if size == 126:
                if len(buf) < 4:
                    return
                (size,), offset = struct.unpack_from("!H", buf, 2), 4
            elif size == 127:
                if len(buf) < 10:
                    return
                (size,), offset = struct.unpack_from("!Q", buf, 2), 10
            if len(buf) < offset + size:
                return
            payload = bytes(buf[offset : offset + size])
            del buf[: offset + size]
            self._frame(opcode, payload)

    def _frame(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_TEXT:
            if payload.startswith(b'{"id"') or b'"next"' in payload[:40]:
                self.events.append((time.monotonic(), payload))
            elif b"connection_ack" in payload:
                self.connects += 1
                self._send(OP_TEXT, self.subscribe)
                if self.acked is not None and not self.acked.done():
                    self.acked.set_result(None)
            elif b'"ping"' in payload:
                self._send(OP_TEXT, b'{"type":"pong"}')
            else:
                self.events.append((time.monotonic(), payload))
        elif opcode == OP_PING:
            self._send(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else 1005
            self.closes.append(code)
            if self.transport is not None:
                self.transport.close()

    def send_text(self, payload: bytes) -> None:
        """Send one more message (another subscription, say) on this socket."""
        self._send(OP_TEXT, payload)

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(opcode, payload))

    def _fail(self, error: Exception) -> None:
        if self.acked is not None and not self.acked.done():
            self.acked.set_exception(error)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.lost += 1
        if self.acked is not None and not self.acked.done():
            self.acked.set_exception(exc or ConnectionError("closed before connection_ack"))
        if self.reconnect and not self.stopping:
            asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        retries = 0
        while not self.stopping:
            await asyncio.sleep(retry_wait(retries))
            try:
                await asyncio.wait_for(self.open(), 30)
                return
            except (OSError, TimeoutError, ConnectionError):
                retries += 1

    def close(self) -> None:
        self.stopping = True
        if self.transport is not None:
            self.transport.close()


def subscribe_message(query: str, variables: dict[str, Any], op_id: str = "1") -> bytes:
    message = {
        "id": op_id,
        "type": "subscribe",
        "payload": {"query": query, "variables": variables},
    }
    return json.dumps(message, separators=(",", ":")).encode()


async def open_all(
    urls: list[str],
    count: int,
    subscribe: bytes,
    *,
    reconnect: bool = False,
    concurrency: int = 200,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[list[Subscriber], int]:
    """Open ``count`` subscribers spread over ``urls``; return them and how many failed."""
    limit = asyncio.Semaphore(concurrency)
    subscribers = []
    for index in range(count):
        parts = urlsplit(urls[index % len(urls)])
        subscribers.append(
            Subscriber(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or 80,
                path=parts.path or "/",
                subscribe=subscribe,
                reconnect=reconnect,
            )
        )
    failed = 0
    opened = 0

    async def one(subscriber: Subscriber) -> None:
        nonlocal failed, opened
        async with limit:
            for attempt in range(3):
                try:
                    await asyncio.wait_for(subscriber.open(), 60)
                    break
                except (OSError, TimeoutError, ConnectionError):
                    if attempt == 2:
                        failed += 1
                        return
                    await asyncio.sleep(0.5 + random.random())
            opened += 1
            if on_progress is not None and opened % 1000 == 0:
                on_progress(opened)

    await asyncio.gather(*(one(s) for s in subscribers))
    return subscribers, failed
