"""crowdvote.socket_session: a websocket's cookies, session and user, as channels set them."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client

from crowdvote.socket_session import SocketSessionMiddleware
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


async def scope_seen(cookie: str | None) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope)

    headers = [(b"host", b"testserver")] + ([(b"cookie", cookie.encode())] if cookie else [])
    await SocketSessionMiddleware(inner)({"type": "websocket", "headers": headers}, None, None)
    return seen


@sync_to_async
def signed_in_cookie() -> tuple[Any, str]:
    user = UserFactory()
    client = Client()
    client.force_login(user)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    return user, f"theme=dark; {settings.SESSION_COOKIE_NAME}={key}"


async def test_a_socket_without_a_session_cookie_is_anonymous() -> None:
    scope = await scope_seen("theme=dark")

    assert scope["cookies"] == {"theme": "dark"}
    assert scope["user"].is_anonymous
    assert scope["session"].session_key is None


async def test_a_session_cookie_signs_the_socket_in() -> None:
    user, cookie = await signed_in_cookie()

    scope = await scope_seen(cookie)

    assert scope["user"].pk == user.pk
    assert scope["session"].session_key == scope["cookies"][settings.SESSION_COOKIE_NAME]


async def test_an_unknown_session_is_anonymous() -> None:
    scope = await scope_seen(f"{settings.SESSION_COOKIE_NAME}=nosuchsession")

    assert scope["user"].is_anonymous


async def test_a_session_whose_password_changed_is_anonymous() -> None:
    user, cookie = await signed_in_cookie()
    user.set_password("a new password, so the session's hash no longer matches")
    await user.asave()

    scope = await scope_seen(cookie)

    assert scope["user"].is_anonymous
