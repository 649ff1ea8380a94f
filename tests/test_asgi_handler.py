"""HTTP through the served ASGI application: the whole middleware chain, run in one trip."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import iscoroutinefunction, sync_to_async
from channels.testing import HttpCommunicator
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import path

from accounts.services.tokens import token_issue
from crowdvote.asgi import application
from crowdvote.handler import OneTripASGIHandler, RequestThread
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


# A view of this module's own URLconf: which thread serves the request, held until told.
served: list[threading.Thread] = []
go_on = threading.Event()


def where(request: HttpRequest) -> HttpResponse:
    served.append(threading.current_thread())
    if request.GET.get("wait"):
        go_on.wait(timeout=10)
    return HttpResponse("ok")


urlpatterns = [path("where", where)]


async def get(handler: OneTripASGIHandler, query: bytes = b"") -> dict[str, Any]:
    communicator = HttpCommunicator(handler, "GET", "/where", headers=[(b"host", b"127.0.0.1")])
    communicator.scope["query_string"] = query
    return await communicator.get_response(timeout=10)


@pytest.fixture
def handler() -> Iterator[OneTripASGIHandler]:
    served.clear()
    go_on.clear()
    with override_settings(ROOT_URLCONF=__name__):
        yield OneTripASGIHandler()


async def test_requests_one_after_another_are_served_by_one_thread(handler) -> None:
    for _ in range(3):
        assert (await get(handler))["status"] == 200

    assert all(thread is served[0] for thread in served)
    assert served[0] is not threading.current_thread()  # not the event loop's


async def test_requests_at_once_each_have_a_thread_of_their_own(handler) -> None:
    waiting = asyncio.ensure_future(get(handler, b"wait=1"))
    while not served:
        await asyncio.sleep(0.01)

    assert (await get(handler))["status"] == 200  # served while the first one still waits
    go_on.set()
    assert (await waiting)["status"] == 200
    first, second = served
    assert first is not second


def test_a_thread_is_idle_only_once_all_it_was_given_has_run() -> None:
    thread = RequestThread()
    release = threading.Event()
    try:
        assert thread.idle
        running = thread.submit(release.wait, 10)
        queued = thread.submit(lambda: None)
        assert not thread.idle
        release.set()
        running.result(timeout=10)
        queued.result(timeout=10)
        assert thread.idle
    finally:
        thread.shutdown()


async def test_a_disconnected_clients_thread_is_not_lent_while_its_view_runs(handler) -> None:
    communicator = HttpCommunicator(handler, "GET", "/where", headers=[(b"host", b"127.0.0.1")])
    communicator.scope["query_string"] = b"wait=1"
    await communicator.send_input({"type": "http.request", "body": b""})
    while not served:
        await asyncio.sleep(0.01)
    await communicator.send_input({"type": "http.disconnect"})

    assert (await get(handler))["status"] == 200  # at once: not queued behind that view
    busy, other = served
    assert other is not busy
    go_on.set()
    await communicator.wait(timeout=10)  # the request ends once its view returned
    served.clear()
    assert (await get(handler))["status"] == 200
    assert served[0] in (busy, other)  # both idle again, and reused


async def test_only_http_is_served() -> None:
    with pytest.raises(ValueError, match="only handle ASGI/HTTP connections, not websocket"):
        await OneTripASGIHandler()({"type": "websocket"}, None, None)
