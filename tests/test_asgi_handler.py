"""HTTP through the served ASGI application: the whole middleware chain, run in one trip."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import iscoroutinefunction, sync_to_async
from channels.testing import HttpCommunicator
from django.conf import settings
from django.core import signals
from django.db import connection
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
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


connected: list[object] = []  # held, so that a closed connection's id is never reused


def database(request: HttpRequest) -> HttpResponse:
    connection.ensure_connection()
    connected.append(connection.connection)
    return HttpResponse("ok")


async def _parts() -> AsyncIterator[bytes]:
    yield b"one "
    yield b"two"


def streamed(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(_parts())


urlpatterns = [
    path("where", where),
    path("database", database),
    path("streamed", streamed),
]


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


async def _served(handler: OneTripASGIHandler, path: str, events: list[str]) -> bytes:
    """Serve one GET of ``path``, noting in ``events`` each message sent to the client."""
    requested = [{"type": "http.request", "body": b""}]
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
    }
    body = b""

    async def receive() -> dict[str, Any]:
        return requested.pop() if requested else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal body
        events.append(message["type"])
        body += message.get("body", b"")

    await handler(scope, receive, send)
    return body


@pytest.fixture
def signalled() -> Iterator[list[str]]:
    events: list[str] = []

    def started(**kwargs: Any) -> None:
        events.append(f"started in {threading.current_thread().name}")

    def finished(**kwargs: Any) -> None:
        events.append(f"finished in {threading.current_thread().name}")

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    yield events
    signals.request_started.disconnect(started)
    signals.request_finished.disconnect(finished)


async def test_the_request_signals_run_in_the_views_thread_before_the_answer_leaves(
    handler, signalled
) -> None:
    assert await _served(handler, "/where", signalled) == b"ok"

    thread = served[0].name
    assert signalled == [
        f"started in {thread}",
        f"finished in {thread}",
        "http.response.start",
        "http.response.body",
    ]


async def test_a_streamed_answer_is_closed_once_it_is_sent(handler, signalled) -> None:
    assert await _served(handler, "/streamed", signalled) == b"one two"

    assert signalled[0].startswith("started in request")
    assert signalled[1:-1] == ["http.response.start", *["http.response.body"] * 3]
    assert signalled[-1].startswith("finished in request")


async def test_a_request_thread_keeps_its_database_connection(handler) -> None:
    """Opening and closing the database per request cost a fifth of a ballot's CPU."""
    connected.clear()
    await _served(handler, "/database", [])
    await _served(handler, "/database", [])

    first, second = connected
    assert first is second
