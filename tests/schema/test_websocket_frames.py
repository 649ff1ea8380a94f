"""A frame that is not a message of the socket's protocol closes it with 4400 and why.

Before, such a frame killed the socket's handler and left the socket open and unanswered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from channels.testing import WebsocketCommunicator

from crowdvote.asgi import application
from schema.client_errors import ERROR_LOGGER
from schema.consumers import NOT_A_MESSAGE, TOO_DEEP
from tests.conftest import logged_to
from tests.schema.sockets import open_socket

pytestmark = pytest.mark.django_db(transaction=True)

DEEP = '{"type": "ping", "payload": ' + "[" * 100_000 + "]" * 100_000 + "}"
QUERY = '{"query": "{ __typename }"}'


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    """Records at ERROR or above, from any logger, strawberry's and the API's included."""
    strawberry = logging.getLogger("strawberry")
    with logged_to(caplog.handler, strawberry, ERROR_LOGGER):
        yield caplog.records
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def legacy_socket() -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, "/graphql", subprotocols=["graphql-ws"])
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "connection_init", "payload": {}})
    assert (await socket.receive_json_from(timeout=5))["type"] == "connection_ack"
    return socket


async def closed_by(socket: WebsocketCommunicator, frame: str) -> tuple[int, str]:
    await socket.send_to(text_data=frame)
    closed = await socket.receive_output(timeout=5)
    assert closed["type"] == "websocket.close", closed
    assert len(closed["reason"].encode()) <= 123
    await socket.disconnect()  # raises what the handler raised, if anything
    return closed["code"], closed["reason"]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (DEEP, TOO_DEEP),
        ("[1, 2]", NOT_A_MESSAGE),
        ('{"id": "1"}', NOT_A_MESSAGE),
        ('{"type": "subscribe", "id": "x", "payload": null}', "payload object"),
        ('{"type": "subscribe", "id": "x", "payload": 5}', "payload object"),
        ('{"type": "subscribe", "id": "x", "payload": {"query": 5}}', "string 'query'"),
        ('{"type": "subscribe", "id": {"a": 1}, "payload": ' + QUERY + "}", "string 'id'"),
        (
            '{"type": "subscribe", "id": "x", "payload": {"query": "{ me { id } }", '
            '"variables": [1]}}',
            "'variables' must be an object",
        ),
        ('{"type": "complete", "id": 7}', "string 'id'"),
    ],
)
async def test_transport_ws_closes_on_a_malformed_message(errors, frame: str, reason: str) -> None:
    socket = await open_socket(None)

    code, said = await closed_by(socket, frame)

    assert code == 4400
    assert reason in said


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (DEEP.replace('"ping"', '"start"'), TOO_DEEP),
        ("[1]", NOT_A_MESSAGE),
        ('{"id": "1"}', NOT_A_MESSAGE),
        ('{"type": "start", "id": "1", "payload": null}', "payload object"),
        ('{"type": "start", "id": {}, "payload": ' + QUERY + "}", "string 'id'"),
        ('{"type": "stop", "id": ["1"]}', "string 'id'"),
    ],
)
async def test_graphql_ws_closes_on_a_malformed_message(errors, frame: str, reason: str) -> None:
    socket = await legacy_socket()

    code, said = await closed_by(socket, frame)

    assert code == 4400
    assert reason in said


async def test_what_follows_a_malformed_message_is_not_acted_on(errors) -> None:
    socket = await open_socket(None)
    await socket.send_to(text_data="[1, 2]")
    await socket.send_json_to({"type": "ping"})

    closed = await socket.receive_output(timeout=5)

    assert closed["type"] == "websocket.close"
    assert await socket.receive_nothing(timeout=0.2)  # no pong


async def test_a_well_formed_message_after_a_skipped_one_is_answered(errors) -> None:
    socket = await legacy_socket()
    await socket.send_json_to({"type": "connection_terminate_later"})  # unknown: skipped
    await socket.send_json_to({"type": "connection_terminate"})

    closed = await socket.receive_output(timeout=5)

    assert (closed["type"], closed["code"]) == ("websocket.close", 1000)
