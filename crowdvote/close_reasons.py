"""Let daphne send the reason of a websocket close, not only its code.

Daphne 4.2 passes ``websocket.close``'s code to the client and drops its ``reason``
(django/daphne#374), so a client refused for a wrong token would see 4403 and no word of
why. The protocol below sends both; everything else is daphne's own handling.
"""

from __future__ import annotations

from typing import Any

from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol


class ReasonedWebSocketProtocol(WebSocketProtocol):
    def handle_reply(self, message: dict[str, Any]) -> None:
        reason = message.get("reason")
        closing = message.get("type") == "websocket.close"
        if closing and reason and self.state != self.STATE_CONNECTING:
            code = message.get("code")
            # autobahn truncates the reason to the 123 bytes a close frame can carry.
            self.sendClose(code=1000 if code is None else code, reason=str(reason))
            return
        super().handle_reply(message)


def daphne_send_close_reasons() -> None:
    """Make every daphne server of this process use ``ReasonedWebSocketProtocol``."""
    WebSocketFactory.protocol = ReasonedWebSocketProtocol
