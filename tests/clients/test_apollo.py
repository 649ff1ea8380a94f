"""Apollo Client 4 over HTTP: a front end on another origin, and a wrong token."""

from __future__ import annotations

import pytest

from tests.clients.conftest import FRONT_END, Server

pytestmark = pytest.mark.e2e


def test_front_end_on_another_origin(server: Server, node: str) -> None:
    token = server.tokens["ann"]

    seen = server.client(node, "apollo", mode="crossOrigin", token=token, origin=FRONT_END)

    preflight = seen["preflight"]
    assert preflight["status"] == 200
    assert preflight["allowOrigin"] == FRONT_END
    assert "POST" in preflight["allowMethods"]
    assert {"authorization", "content-type"} <= set(preflight["allowHeaders"].split(", "))
    assert seen["me"]["data"]["me"]["username"] == "ann"
    assert seen["responses"] == [
        {"status": 200, "allowOrigin": FRONT_END, "allowCredentials": None}
    ]


def test_other_origins_are_not_allowed(server: Server, node: str) -> None:
    token = server.tokens["ann"]

    seen = server.client(
        node, "apollo", mode="crossOrigin", token=token, origin="https://evil.example"
    )

    assert seen["preflight"]["allowOrigin"] is None
    assert [r["allowOrigin"] for r in seen["responses"]] == [None]


def test_wrong_token_over_http(server: Server, node: str) -> None:
    seen = server.client(node, "apollo", mode="wrongToken", token="cv_not-a-token")

    assert seen["me"]["data"] is None
    [error] = seen["me"]["errors"]
    assert error["code"] == "UNAUTHENTICATED"
    assert "token is invalid or expired" in error["message"]
