"""A socket's sign-in is re-checked before each query or mutation sent over it.

``scope["user"]`` is set once, at connection_init: before, a socket went on acting as its
user after the token was revoked or the session ended.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client

from accounts.services.tokens import token_issue
from crowdvote.asgi import application
from democracy.models import Community
from schema import consumers
from schema.calc.access import SIGNED_OUT
from tests.factories import UserFactory
from tests.schema.sockets import open_socket, sign_out, subscribe

pytestmark = pytest.mark.django_db(transaction=True)

ME = "{ me { username } }"
CREATE = 'mutation { createCommunity(input: {name: "After sign-out"}) { errors { code } } }'


async def answer(socket: WebsocketCommunicator, op: str, query: str) -> dict[str, Any]:
    await subscribe(socket, op, query)
    return await socket.receive_json_from(timeout=5)


async def refused_and_closed(socket: WebsocketCommunicator, op: str, query: str) -> None:
    refused = await answer(socket, op, query)
    assert refused == {
        "id": op,
        "type": "error",
        "payload": [{"message": SIGNED_OUT, "extensions": {"code": "UNAUTHENTICATED"}}],
    }
    closed = await socket.receive_output(timeout=5)
    assert (closed["type"], closed["code"], closed["reason"]) == (
        "websocket.close",
        4403,
        SIGNED_OUT,
    )
    assert len(SIGNED_OUT.encode()) <= 123


@pytest.fixture
def signed_in() -> tuple[Any, str]:
    user = UserFactory()
    return user, token_issue(user=user)[1]


async def test_a_revoked_token_no_longer_runs_queries(signed_in) -> None:
    user, token = signed_in
    socket = await open_socket(token)
    before = await answer(socket, "q1", ME)
    assert before["payload"]["data"] == {"me": {"username": user.username}}
    assert (await socket.receive_json_from(timeout=5))["type"] == "complete"

    await sync_to_async(sign_out)(token)

    await refused_and_closed(socket, "q2", ME)


async def test_a_revoked_token_no_longer_runs_mutations(signed_in) -> None:
    _, token = signed_in
    socket = await open_socket(token)
    await sync_to_async(sign_out)(token)

    await refused_and_closed(socket, "m", CREATE)

    assert not await Community.objects.filter(name="After sign-out").aexists()


def browser_cookie(user: Any) -> str:
    browser = Client()
    browser.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"


async def test_an_ended_session_no_longer_runs_queries(signed_in) -> None:
    user, _ = signed_in
    cookie = await sync_to_async(browser_cookie)(user)
    socket = WebsocketCommunicator(
        application,
        "/graphql",
        subprotocols=["graphql-transport-ws"],
        headers=[(b"cookie", cookie.encode())],
    )
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "connection_init", "payload": {}})
    assert (await socket.receive_json_from(timeout=5))["type"] == "connection_ack"
    before = await answer(socket, "q1", ME)
    assert before["payload"]["data"] == {"me": {"username": user.username}}
    assert (await socket.receive_json_from(timeout=5))["type"] == "complete"

    await Session.objects.all().adelete()  # signed out in the browser

    await refused_and_closed(socket, "q2", ME)


def paired_token(user: Any) -> str:
    """A token issued with a browser session, as the sign-in page issues it."""
    browser = Client()
    browser.force_login(user)
    key = browser.cookies[settings.SESSION_COOKIE_NAME].value
    return token_issue(user=user, session_key=key)[1]


async def test_a_token_whose_session_ended_no_longer_runs_queries(signed_in) -> None:
    user, _ = signed_in
    token = await sync_to_async(paired_token)(user)
    socket = await open_socket(token)
    before = await answer(socket, "q1", ME)
    assert before["payload"]["data"] == {"me": {"username": user.username}}
    assert (await socket.receive_json_from(timeout=5))["type"] == "complete"

    await Session.objects.all().adelete()  # expired, and cleared by clearsessions

    await refused_and_closed(socket, "q2", ME)


async def test_an_anonymous_socket_is_not_checked(monkeypatch) -> None:
    async def never(viewer: object) -> bool:
        raise AssertionError("an anonymous socket has no credential to check")

    monkeypatch.setattr(consumers, "credential_holds", never)
    socket = await open_socket(None)

    answered = await answer(socket, "q", ME)

    assert answered["payload"] == {"data": {"me": None}}
    await socket.disconnect()
