"""A client of subscriptions over an in-process websocket (graphql-transport-ws)."""

from __future__ import annotations

import json
import time
from typing import Any

from channels.testing import WebsocketCommunicator
from django.test import Client

from crowdvote.asgi import application

STATUS = "subscription($id: ID!) { calculationStatus(decisionId: $id) { id status } }"
RESULTS = """subscription($id: ID!) { decisionResults(decisionId: $id) {
  id calculationId winner { title } scores { totalStars } } }"""


async def open_socket(token: str | None) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, "/graphql", subprotocols=["graphql-transport-ws"])
    connected, _ = await socket.connect()
    assert connected
    payload = {"authorization": f"Bearer {token}"} if token else {}
    await socket.send_json_to({"type": "connection_init", "payload": payload})
    assert (await socket.receive_json_from(timeout=5))["type"] == "connection_ack"
    return socket


async def subscribe(socket: WebsocketCommunicator, op: str, query: str, **variables: Any) -> None:
    await socket.send_json_to(
        {"type": "subscribe", "id": op, "payload": {"query": query, "variables": variables}}
    )


async def next_payload(socket: WebsocketCommunicator) -> dict[str, Any]:
    message = await socket.receive_json_from(timeout=10)
    assert message["type"] == "next", message
    return message["payload"]


async def ended_with(socket: WebsocketCommunicator, op: str, timeout: float = 1.0) -> str:
    """Return the error code that ended subscription ``op`` within ``timeout`` seconds."""
    started = time.monotonic()
    code = None
    while True:
        left = timeout - (time.monotonic() - started)
        assert left > 0, "the subscription did not end in time"
        message = await socket.receive_json_from(timeout=left)
        assert message.get("id") == op, message
        if message["type"] == "next" and message["payload"].get("errors"):
            code = message["payload"]["errors"][0]["extensions"]["code"]
            assert message["payload"].get("data") is None
        if message["type"] in ("error", "complete"):
            if message["type"] == "error":
                code = message["payload"][0]["extensions"]["code"]
            assert code is not None, message
            return code


async def first_payload(socket: WebsocketCommunicator) -> dict[str, Any]:
    message = await socket.receive_json_from(timeout=5)
    assert message["type"] == "next", message
    assert not message["payload"].get("errors"), message
    return message["payload"]["data"]


def sign_out(token: str) -> None:
    response = Client().post(
        "/graphql",
        data=json.dumps({"query": "mutation { signOut { ok } }"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.json()["data"]["signOut"]["ok"] is True
