"""Every client script: a query, a ballot and both subscriptions, then an unknown decision.

Apollo Client 4 (its subscriptions over graphql-ws, or over HTTP multipart), the graphql-ws
client, subscriptions-transport-ws (the legacy `graphql-ws` protocol; casting goes over HTTP)
and urql (fetch exchange over HTTP, subscription exchange over the graphql-ws client).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients.conftest import (
    Server,
    assert_client_lives,
    assert_client_refuses_unknown_decision,
)

pytestmark = pytest.mark.e2e

SCRIPTS = ["apollo", "graphql_ws", "legacy", "urql"]


@pytest.mark.parametrize(
    ("script", "options"),
    [
        *(pytest.param(script, {}, id=script) for script in SCRIPTS),
        pytest.param("apollo", {"httpOnly": True}, id="apollo-http-multipart"),
    ],
)
def test_query_cast_ballot_and_both_subscriptions(
    server: Server, node: str, script: str, options: dict[str, Any]
) -> None:
    assert_client_lives(server, node, script, **options)


@pytest.mark.parametrize("script", SCRIPTS)
def test_unknown_decision(server: Server, node: str, script: str) -> None:
    assert_client_refuses_unknown_decision(server, node, script)
