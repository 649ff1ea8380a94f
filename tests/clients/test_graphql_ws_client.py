"""The graphql-ws client (protocol graphql-transport-ws): queries, mutations and subscriptions."""

from __future__ import annotations

import pytest

from tests.clients.conftest import (
    UNKNOWN_DECISION,
    Server,
    assert_lived,
    assert_unknown_decision,
    live,
)

pytestmark = pytest.mark.e2e


def test_query_cast_ballot_and_both_subscriptions(server: Server, node: str) -> None:
    decision = server.decision()

    assert_lived(server.client(node, "graphql_ws", **live(decision)), decision)


def test_unknown_decision(server: Server, node: str) -> None:
    token = server.tokens["ann"]

    seen = server.client(
        node, "graphql_ws", mode="unknownDecision", token=token, decisionId=UNKNOWN_DECISION
    )

    assert_unknown_decision(seen)
