"""Cookies, session and user of a websocket, in one step instead of channels' three.

``AuthMiddlewareStack`` (cookies, then session, then user) copies the scope three times,
wraps ``send`` to save sessions (on HTTP responses only, never on a websocket) and stays on
the stack of every socket for its whole life: about 3 KB per idle socket. This middleware
sets the same ``cookies``, ``session`` and ``user`` once; a socket without a session cookie
is anonymous without asking the database (as channels' ``get_user`` would find).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from channels.auth import get_user
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import parse_cookie


class SocketSessionMiddleware:
    """Set ``scope["cookies"]``, ``["session"]`` and ``["user"]`` for the inner application."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        cookies: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookies = parse_cookie(value.decode("latin1"))
                break
        key = cookies.get(settings.SESSION_COOKIE_NAME)
        store = import_module(settings.SESSION_ENGINE).SessionStore
        scope = dict(scope, cookies=cookies, session=store(key))
        scope["user"] = AnonymousUser() if key is None else await get_user(scope)
        return await self.inner(scope, receive, send)
