"""crowdvote.daphne_memory and daphne_http: what daphne keeps per websocket, and parses."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

from daphne.http_protocol import HTTPFactory
from daphne.server import Server
from daphne.ws_protocol import WebSocketFactory
from twisted.internet.address import IPv4Address
from twisted.web.http import HTTPChannel

import crowdvote.asgi  # noqa: F401 - applies the changes to daphne, as serving does
from core.inbox import Inbox
from crowdvote.close_reasons import ReasonedWebSocketProtocol
from crowdvote.daphne_http import RawBodyRequest
from crowdvote.daphne_memory import HANDSHAKE_ATTRIBUTES, LeanWebSocketProtocol, _SendQueue


class Opened(LeanWebSocketProtocol):
    """A protocol at the end of its opening handshake, without a network."""

    def __init__(self) -> None:
        self.factory = SimpleNamespace(maxFramePayloadSize=7, autoPingInterval=0)
        self.server = SimpleNamespace(log_action=lambda *args: None)
        self.client_addr = None
        self.request = SimpleNamespace(path="/graphql", headers={"origin": "x"})
        self.channel = HTTPChannel()
        self.channel.requests = [object()]
        self.transport = SimpleNamespace(producer=self.channel)
        for name in HANDSHAKE_ATTRIBUTES:
            setattr(self, name, f"{name} of the handshake")


def test_daphne_uses_the_lean_protocol_that_keeps_close_reasons() -> None:
    assert WebSocketFactory.protocol is LeanWebSocketProtocol
    assert issubclass(LeanWebSocketProtocol, ReasonedWebSocketProtocol)


def test_options_are_read_from_the_factory_not_copied() -> None:
    protocol = Opened()

    assert protocol.maxFramePayloadSize == 7
    assert "maxFramePayloadSize" not in vars(protocol)
    protocol.factory.maxFramePayloadSize = 9
    assert protocol.maxFramePayloadSize == 9


def test_a_protocol_may_still_set_an_option_of_its_own() -> None:
    protocol = Opened()

    protocol.autoPingInterval = 5

    assert protocol.autoPingInterval == 5
    assert protocol.factory.autoPingInterval == 0


def test_once_open_the_handshake_and_the_upgraded_request_go() -> None:
    protocol = Opened()

    protocol.onOpen()

    assert protocol.request.path == "/graphql"
    assert not hasattr(protocol.request, "headers")
    assert all(getattr(protocol, name) is None for name in HANDSHAKE_ATTRIBUTES)
    assert protocol.channel.requests == []
    assert protocol.transport.producer is protocol.channel  # still pauses reads


def test_the_send_queue_is_first_in_first_out() -> None:
    queue = _SendQueue()
    queue.append((b"a", True))
    queue.append((b"b", False))

    assert len(queue) == 2
    assert queue.popleft() == (b"a", True)
    assert queue.popleft() == (b"b", False)
    assert len(queue) == 0


async def test_daphne_hands_messages_over_in_an_inbox() -> None:
    received: list[Any] = []

    async def application(scope: Any, receive: Any, send: Any) -> None:
        received.append(await receive())

    server = Server(application=application, endpoints=["tcp:port=0:interface=127.0.0.1"])
    protocol = object()
    server.connections = {protocol: {}}  # as Server.run would have set it

    queue = server.create_application(protocol, {"type": "websocket"})
    queue.put_nowait({"type": "websocket.connect"})
    await server.connections[protocol]["application_instance"]

    assert isinstance(queue, Inbox)
    assert received == [{"type": "websocket.connect"}]


def test_daphne_http_requests_leave_form_bodies_to_django() -> None:
    """Twisted would parse a form's Content-Type and body on the event loop; nobody reads it."""
    connected: list[object] = []
    server = SimpleNamespace(protocol_connected=connected.append)
    protocol = HTTPFactory(server).buildProtocol(None)
    channel = SimpleNamespace(
        factory=SimpleNamespace(server=server),
        getPeer=lambda: None,
        getHost=lambda: None,
        transport=None,
    )

    request = protocol.requestFactory(channel, 0)

    assert protocol.requestFactory is RawBodyRequest
    assert request._parsePOSTFormSubmission is False
    assert connected == [request]  # still daphne's request, registered with its server


def test_daphne_writes_no_twisted_access_line_per_request() -> None:
    """Twisted formats one per request into a log daphne discards; daphne's own access log
    (``--access-log``) is written apart from it."""
    factory = HTTPFactory(SimpleNamespace())
    factory.startFactory()
    written = io.StringIO()
    factory._logFile = written  # where Twisted would write it
    request = SimpleNamespace(
        method=b"POST",
        uri=b"/graphql",
        clientproto=b"HTTP/1.1",
        code=200,
        sentLength=42,
        getClientAddress=lambda: IPv4Address("TCP", "127.0.0.1", 50000),
        getHeader=lambda name: None,
    )

    factory.log(request)

    assert written.getvalue() == ""
