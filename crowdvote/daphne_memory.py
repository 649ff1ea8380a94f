"""What daphne keeps for each open websocket, made smaller: a crowd keeps thousands idle.

- Daphne hands a connection's messages to the application through an ``asyncio.Queue``
  (about 3.5 KB even when empty). The application only calls ``get`` on it and daphne only
  ``put_nowait``, which an :class:`~core.inbox.Inbox` does for a fraction of that; the rest
  is daphne 4.2's own ``create_application``.
- autobahn copies its ~30 options from the factory into every protocol and keeps the
  handshake (request, headers, response) for the socket's life; Twisted keeps the HTTP
  request that was upgraded. :class:`LeanWebSocketProtocol` reads the options from the
  factory and lets the handshake go once the socket is open.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from daphne.server import Server
from daphne.ws_protocol import WebSocketFactory
from twisted.web.http import HTTPChannel

from core.inbox import Inbox
from crowdvote.close_reasons import ReasonedWebSocketProtocol

# Read by autobahn during the opening handshake only.
HANDSHAKE_ATTRIBUTES = (
    "http_headers",
    "http_request_data",
    "http_response_data",
    "http_status_line",
    "http_request_uri",
    "http_request_path",
    "http_request_params",
    "http_request_host",
    "websocket_protocols",
    "websocket_extensions",
    "websocket_origin",
    "_wskey",
)


def _create_application(self: Server, protocol: Any, scope: dict[str, Any]) -> Inbox[Any] | None:
    assert "application_instance" not in self.connections[protocol]
    input_queue: Inbox[Any] = Inbox()
    scope.setdefault("asgi", {"version": "3.0"})
    application_instance = self.application(
        scope=scope,
        receive=input_queue.get,
        send=partial(self.handle_reply, protocol),
    )
    if protocol not in self.connections:
        return None
    self.connections[protocol]["application_instance"] = asyncio.ensure_future(
        application_instance,
        loop=asyncio.get_event_loop(),
    )
    return input_queue


class _FactoryOption:
    """An autobahn option, read from the protocol's factory rather than copied into it.

    autobahn copies each option unless the protocol already has it; this answers for it.
    A protocol that sets an option of its own still can: its value then wins.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, protocol: Any, owner: type | None = None) -> Any:
        return self if protocol is None else getattr(protocol.factory, self.name)


class _SendQueue(list[Any]):
    """autobahn's queue of delayed writes (``append``, ``popleft``, ``len``), usually empty.

    An empty deque takes 760 bytes, an empty list 56; the queue holds a few items at most.
    """

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)


class _OpenedRequest:
    """What daphne still reads of the handshake request once open: the path, for its logs."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


class LeanWebSocketProtocol(ReasonedWebSocketProtocol):
    """Daphne's websocket protocol (with close reasons), without what an open socket never reads."""

    request: Any  # daphne's, set in onConnect

    def _connectionMade(self) -> None:
        super()._connectionMade()
        self.send_queue = _SendQueue()

    def onOpen(self) -> None:
        super().onOpen()
        self.request = _OpenedRequest(self.request.path)
        for name in HANDSHAKE_ATTRIBUTES:
            if name in self.__dict__:
                setattr(self, name, None)
        # The HTTP request that was upgraded stays listed in its channel, which stays the
        # connection's producer (pausing reads while writes are behind): only unlist it.
        channel = getattr(self.transport, "producer", None)
        if isinstance(channel, HTTPChannel):
            channel.requests.clear()


for _name in LeanWebSocketProtocol.CONFIG_ATTRS:
    setattr(LeanWebSocketProtocol, _name, _FactoryOption(_name))


def daphne_lean_connections() -> None:
    """Make every daphne server of this process keep less per connection (see above)."""
    Server.create_application = _create_application
    WebSocketFactory.protocol = LeanWebSocketProtocol
