"""HTTP through the served ASGI application: the whole middleware chain, run in one trip."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import iscoroutinefunction, sync_to_async
from channels.testing import HttpCommunicator
from django.conf import settings
from django.test import override_settings

from accounts.services.tokens import token_issue
from crowdvote.asgi import application
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

FRONT_END = "http://localhost:5173"
ME = json.dumps({"query": "{ me { username } }"}).encode()


async def post(body: bytes, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    communicator = HttpCommunicator(
        application,
        "POST",
        "/graphql",
        body=body,
        headers=[(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), *headers],
    )
    return await communicator.get_response(timeout=10)


def header(response: dict[str, Any], name: bytes) -> str | None:
    found = [value for key, value in response["headers"] if key.lower() == name]
    return found[0].decode() if found else None


@override_settings(CORS_ALLOWED_ORIGINS=[FRONT_END])
async def test_a_bearer_request_passes_every_middleware() -> None:
    user = await sync_to_async(UserFactory)(username="ann")
    raw = (await sync_to_async(token_issue)(user=user))[1]

    response = await post(
        ME, (b"authorization", f"Bearer {raw}".encode()), (b"origin", FRONT_END.encode())
    )

    assert response["status"] == 200
    assert json.loads(response["body"]) == {"data": {"me": {"username": "ann"}}}
    assert header(response, b"access-control-allow-origin") == FRONT_END  # CORS
    assert header(response, b"x-frame-options") == "DENY"  # clickjacking
    assert header(response, b"x-content-type-options") == "nosniff"  # security


async def test_a_cookie_request_without_its_csrf_token_is_refused() -> None:
    cookie = f"{settings.SESSION_COOKIE_NAME}=whatever".encode()

    response = await post(ME, (b"cookie", cookie))

    assert response["status"] == 403
    assert json.loads(response["body"])["errors"][0]["extensions"]["code"] == "CSRF_FAILED"


async def test_an_unknown_bearer_token_is_refused() -> None:
    response = await post(ME, (b"authorization", b"Bearer cv_nobody"))

    assert json.loads(response["body"])["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_the_middleware_runs_in_one_trip_from_the_event_loop() -> None:
    """Sync mode, as under WSGI: no middleware hook or view is a trip of its own."""
    handler = application.application_mapping["http"].application

    assert not iscoroutinefunction(handler._middleware_chain)
    assert not any(map(iscoroutinefunction, handler._view_middleware))
