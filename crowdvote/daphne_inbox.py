"""Give each daphne connection an :class:`~core.inbox.Inbox` instead of an ``asyncio.Queue``.

Daphne hands every connection's messages to the application through an ``asyncio.Queue``
(about 3.5 KB even when empty); a crowd of idle websockets keeps thousands of them. The
application only calls ``get`` on it and daphne only ``put_nowait``, which an ``Inbox`` does
for a fraction of that. Everything else is daphne 4.2's own ``create_application``.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from daphne.server import Server

from core.inbox import Inbox


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


def daphne_use_inboxes() -> None:
    """Make every daphne server of this process queue messages in an ``Inbox``."""
    Server.create_application = _create_application
