"""A wrong bearer token in connection_init: both protocols close with a code and a reason."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from daphne.ws_protocol import WebSocketFactory

from accounts.errors import INVALID_BEARER_TOKEN
from accounts.services.tokens import token_issue
from crowdvote.asgi import application
from crowdvote.close_reasons import ReasonedWebSocketProtocol
from schema.consumers import INVALID_TOKEN_REASON
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


async def init(protocol: str, token: str) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, "/graphql", subprotocols=[protocol])
    connected, _ = await socket.connect()
    assert connected
    payload = {"authorization": f"Bearer {token}"}
    await socket.send_json_to({"type": "connection_init", "payload": payload})
    return socket


async def test_transport_ws_closes_with_4403_saying_the_token_is_wrong() -> None:
    socket = await init("graphql-transport-ws", "cv_wrong")

    closed = await socket.receive_output(timeout=5)

    assert closed == {"type": "websocket.close", "code": 4403, "reason": INVALID_TOKEN_REASON}


async def test_legacy_protocol_says_why_then_closes_with_a_code_daphne_accepts() -> None:
    socket = await init("graphql-ws", "cv_wrong")

    error = await socket.receive_json_from(timeout=5)
    closed = await socket.receive_output(timeout=5)

    assert error == {
        "type": "connection_error",
        "payload": {"message": INVALID_BEARER_TOKEN, "code": "UNAUTHENTICATED"},
    }
    assert closed == {"type": "websocket.close", "code": 4403, "reason": INVALID_TOKEN_REASON}


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_valid_token_is_acknowledged(protocol: str) -> None:
    user = await sync_to_async(UserFactory)()
    token = (await sync_to_async(token_issue)(user=user))[1]
    socket = await init(protocol, token)

    assert (await socket.receive_json_from(timeout=5))["type"] == "connection_ack"
    await socket.disconnect()


def test_the_reason_fits_a_close_frame_and_names_the_token() -> None:
    assert len(INVALID_TOKEN_REASON.encode()) <= 123
    assert "token" in INVALID_TOKEN_REASON


class Recorder(ReasonedWebSocketProtocol):
    """Records what daphne would put on the wire instead of sending it."""

    def __init__(self) -> None:
        self.state = self.STATE_OPEN
        self.sent: list[dict[str, Any]] = []

    def sendClose(self, code: int | None = None, reason: str | None = None) -> None:
        self.sent.append({"code": code, "reason": reason})


def test_daphne_sends_the_close_reason() -> None:
    protocol = Recorder()

    protocol.handle_reply({"type": "websocket.close", "code": 4403, "reason": "Bad token"})

    assert protocol.sent == [{"code": 4403, "reason": "Bad token"}]
    assert issubclass(WebSocketFactory.protocol, ReasonedWebSocketProtocol)


def test_a_close_without_reason_is_daphnes_own() -> None:
    protocol = Recorder()

    protocol.handle_reply({"type": "websocket.close", "code": 1000})

    assert protocol.sent == [{"code": 1000, "reason": None}]
