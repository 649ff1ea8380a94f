"""The websocket consumer keeps little per socket, and still checks what it checked."""

from __future__ import annotations

import asyncio
import gc

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from crowdvote.asgi import application
from schema.consumers import GraphQLSubscriptionConsumer, SharedTransportWSHandler
from tests.schema.sockets import open_socket

pytestmark = pytest.mark.django_db(transaction=True)
FRONT_END = "https://front.example"


async def connect(origin: str | None) -> bool:
    headers = [(b"origin", origin.encode())] if origin else []
    socket = WebsocketCommunicator(
        application, "/graphql", headers=headers, subprotocols=["graphql-transport-ws"]
    )
    connected, _ = await socket.connect(timeout=5)
    await socket.disconnect()
    return connected


@override_settings(WEBSOCKET_ALLOWED_ORIGINS=[FRONT_END])
async def test_origins_are_checked_against_the_current_setting() -> None:
    assert await connect(FRONT_END)
    assert await connect(None)  # a script, not a page
    assert not await connect("https://elsewhere.example")

    with override_settings(WEBSOCKET_ALLOWED_ORIGINS=["https://elsewhere.example"]):
        assert await connect("https://elsewhere.example")
        assert not await connect(FRONT_END)


def test_a_socket_keeps_only_its_own_state() -> None:
    consumer = GraphQLSubscriptionConsumer()

    assert set(vars(consumer)) == {"message_queue", "run_task", "refusal", "_outbox"}
    assert consumer.max_subscriptions_per_connection == 100
    assert consumer.connection_init_wait_timeout.total_seconds() == 60


async def test_the_init_timeout_is_let_go_once_the_connection_is_acknowledged() -> None:
    socket = await open_socket(None)
    await asyncio.sleep(0.05)  # the cancelled timeout task finishes

    # By type: isinstance would wake lazy objects (a GIS library Django never loads here).
    handlers = [o for o in gc.get_objects() if type(o) is SharedTransportWSHandler]
    assert handlers
    assert all(h.connection_init_timeout_task is None for h in handlers)
    await socket.disconnect()


async def test_a_socket_that_never_initialises_still_times_out() -> None:
    socket = WebsocketCommunicator(application, "/graphql", subprotocols=["graphql-transport-ws"])
    original = GraphQLSubscriptionConsumer.connection_init_wait_timeout
    GraphQLSubscriptionConsumer.connection_init_wait_timeout = original / 600  # 0.1 s
    try:
        connected, _ = await socket.connect()
        assert connected
        closed = await socket.receive_output(timeout=5)
    finally:
        GraphQLSubscriptionConsumer.connection_init_wait_timeout = original

    assert closed["type"] == "websocket.close"
    assert closed["code"] == 4408


async def test_a_message_that_is_not_json_closes_with_4400() -> None:
    socket = await open_socket(None)

    await socket.send_to(text_data="{not json")

    closed = await socket.receive_output(timeout=5)
    assert (closed["code"], closed["reason"]) == (4400, "WebSocket message must be valid JSON")


async def test_a_binary_message_closes_with_4400() -> None:
    socket = await open_socket(None)

    await socket.send_to(bytes_data=b"\x00")

    closed = await socket.receive_output(timeout=5)
    assert (closed["code"], closed["reason"]) == (4400, "WebSocket message type must be text")


async def test_the_older_protocol_skips_what_is_not_json() -> None:
    socket = WebsocketCommunicator(application, "/graphql", subprotocols=["graphql-ws"])
    assert (await socket.connect())[0]

    await socket.send_to(text_data="{not json")
    await socket.send_json_to({"type": "connection_init", "payload": {}})

    assert (await socket.receive_json_from(timeout=5))["type"] == "connection_ack"
    await socket.disconnect()


async def test_the_last_message_is_not_kept_while_the_socket_idles() -> None:
    socket = await open_socket(None)
    await socket.send_json_to({"type": "ping", "payload": {"marker": "kept?"}})
    assert (await socket.receive_json_from(timeout=5))["type"] == "pong"
    await asyncio.sleep(0.05)

    # What the waiting reader (the adapter) and handler (strawberry's loop) hold.
    waiting = [o for o in gc.get_objects() if type(o).__name__ in ("async_generator", "coroutine")]
    frames = [getattr(o, "ag_frame", None) or getattr(o, "cr_frame", None) for o in waiting]
    names = {"iter_json", "handle"}
    held = [repr(f.f_locals) for f in frames if f is not None and f.f_code.co_name in names]
    assert held
    assert not [text for text in held if "kept?" in text]
    await socket.disconnect()
