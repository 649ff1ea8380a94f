"""subscriptions-transport-ws: the legacy `graphql-ws` protocol (casting goes over HTTP)."""

from __future__ import annotations

import pytest

from tests.clients.conftest import (
    Server,
    assert_client_lives,
    assert_client_refuses_unknown_decision,
)

pytestmark = pytest.mark.e2e


def test_cast_ballot_and_both_subscriptions(server: Server, node: str) -> None:
    assert_client_lives(server, node, "legacy")


def test_unknown_decision(server: Server, node: str) -> None:
    assert_client_refuses_unknown_decision(server, node, "legacy")
