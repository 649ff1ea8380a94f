"""A small GraphQL websocket client for end-to-end tests (both sub-protocols)."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import websockets

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


class GraphQLSocket:
    """One websocket connection carrying any number of subscriptions."""

    def __init__(self, url: str, token: str | None = None, protocol: str = TRANSPORT_WS) -> None:
        self.url = url
        self.token = token
        self.protocol = protocol
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.errors: dict[str, list[Any]] = defaultdict(list)
        self.completed: set[str] = set()
        self.arrived = asyncio.Event()
        self.socket: Any = None
        self.reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> GraphQLSocket:
        self.socket = await websockets.connect(self.url, subprotocols=[self.protocol])
        payload = {"authorization": f"Bearer {self.token}"} if self.token else {}
        await self.socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(self.socket.recv(), 10))
        if ack["type"] != "connection_ack":
            raise ConnectionError(f"not acknowledged: {ack}")
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.reader:
            self.reader.cancel()
        await self.socket.close()

    async def _read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            kind, op = message.get("type"), message.get("id")
            if kind in ("next", "data"):
                payload = message["payload"]
                if payload.get("errors"):
                    self.errors[op].append(payload["errors"])
                else:
                    self.events[op].append(payload["data"])
            elif kind == "error":
                self.errors[op].append(message.get("payload"))
            elif kind == "complete":
                self.completed.add(op)
            elif kind == "ping":
                await self.socket.send(json.dumps({"type": "pong"}))
            self.arrived.set()

    async def subscribe(self, op: str, query: str, **variables: Any) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": variables}
        await self.socket.send(json.dumps({"type": kind, "id": op, "payload": payload}))

    async def stop(self, op: str) -> None:
        kind = "complete" if self.protocol == TRANSPORT_WS else "stop"
        await self.socket.send(json.dumps({"type": kind, "id": op}))

    async def wait_for(
        self, op: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20
    ) -> dict[str, Any]:
        """Return the first event of ``op`` (seen or to come) that satisfies ``predicate``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for event in self.events[op]:
                if predicate(event):
                    return event
            if self.errors[op]:
                raise AssertionError(f"subscription {op} failed: {self.errors[op]}")
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"{op}: no matching event among {self.events[op]}")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                continue
