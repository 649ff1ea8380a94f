"""urql: its fetch exchange over HTTP, its subscription exchange over the graphql-ws client."""

from __future__ import annotations

import pytest

from tests.clients.conftest import (
    Server,
    assert_client_lives,
    assert_client_refuses_unknown_decision,
)

pytestmark = pytest.mark.e2e


def test_query_cast_ballot_and_both_subscriptions(server: Server, node: str) -> None:
    assert_client_lives(server, node, "urql")


def test_unknown_decision(server: Server, node: str) -> None:
    assert_client_refuses_unknown_decision(server, node, "urql")
