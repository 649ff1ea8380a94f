"""A wrong bearer token in connection_init, over both websocket protocols, as clients see it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients.conftest import Server

pytestmark = pytest.mark.e2e

WRONG = "cv_not-a-token"
WAIT_MS = 3000


def valid_close(close: dict[str, Any]) -> bool:
    """A close code an application may send (RFC 6455 §7.4) with a reason a client can show."""
    code_ok = close["code"] == 1000 or 3000 <= close["code"] <= 4999
    return code_ok and "token" in close["reason"].lower()


def wrong_token(server: Server, node: str, script: str, decision_id: str) -> dict[str, Any]:
    """Run ``script`` subscribing to the decision with a wrong token; return what it saw."""
    return server.client(
        node, script, mode="wrongToken", token=WRONG, decisionId=decision_id, waitMs=WAIT_MS
    )


@pytest.fixture(scope="module")
def decision_id(server: Server) -> str:
    return server.decision().decision


def test_transport_ws_closes_with_4403_and_ends_the_subscription(
    server: Server, node: str, decision_id: str
) -> None:
    seen = wrong_token(server, node, "graphql_ws", decision_id)

    assert seen["subscriptionEnded"]
    assert [close["code"] for close in seen["closes"]] == [4403]
    assert seen["outcome"]["failed"]["closeCode"] == 4403


def test_transport_ws_close_says_why(server: Server, node: str, decision_id: str) -> None:
    seen = wrong_token(server, node, "graphql_ws", decision_id)

    [close] = seen["closes"]
    assert valid_close(close), close


def test_legacy_protocol_answers_connection_error(
    server: Server, node: str, decision_id: str
) -> None:
    seen = wrong_token(server, node, "legacy", decision_id)

    error = seen["connectionError"]["payload"]
    assert error["code"] == "UNAUTHENTICATED"
    assert "token" in error["message"]


def test_legacy_protocol_closes_the_socket_saying_why(
    server: Server, node: str, decision_id: str
) -> None:
    seen = wrong_token(server, node, "legacy", decision_id)

    assert seen["disconnected"]
    [close] = seen["closes"]
    assert valid_close(close), close
