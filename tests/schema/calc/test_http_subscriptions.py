"""Subscriptions over HTTP: multipart (Apollo) and graphql-sse streams; plain JSON says how."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import ANY

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import ApplicationCommunicator, HttpCommunicator
from django.test import AsyncClient, Client

from accounts.errors import INVALID_BEARER_TOKEN
from calc.broadcast import group_name
from calc.services import decision_calculate
from crowdvote.asgi import application
from tests.schema.conftest import gid
from tests.schema.sockets import STATUS

pytestmark = pytest.mark.django_db(transaction=True)

MULTIPART = 'multipart/mixed;subscriptionSpec="1.0",application/json'
SSE = "text/event-stream"
STAGES = ["QUEUED", "CREATING", "READY", "STAGING", "TALLYING", "COMPLETED"]


async def open_stream(accept: str, token: str | None, **variables: Any) -> Any:
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"query": STATUS, "variables": variables})
    return await AsyncClient().post(
        "/graphql", data=body, content_type="application/json", headers=headers
    )


async def multipart_payloads(response: Any) -> AsyncIterator[dict[str, Any]]:
    """Yield each part's payload (heartbeats, empty parts, are skipped)."""
    buffer = ""
    async for chunk in response.streaming_content:
        buffer += chunk.decode()
        *parts, buffer = buffer.split("\r\n--graphql")
        for part in parts:
            _, _, body = part.partition("\r\n\r\n")
            if body.strip() and (payload := json.loads(body).get("payload")):
                yield payload


async def sse_events(response: Any) -> AsyncIterator[tuple[str, str]]:
    buffer = ""
    async for chunk in response.streaming_content:
        buffer += chunk.decode().replace("\r\n", "\n")
        *events, buffer = buffer.split("\n\n")
        for event in events:
            fields = dict(line.split(": ", 1) for line in event.splitlines() if ": " in line)
            if "event" in fields:
                yield fields["event"], fields.get("data", "")


async def hang_up(stream: AsyncIterator[Any]) -> None:
    """Stop reading as the server does when its client goes away: cancel the pending read."""
    reader = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader


async def test_multipart_streams_each_stage_like_the_websocket(voting) -> None:
    _, decision, token = voting
    response = await open_stream(MULTIPART, token, id=gid(decision))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("multipart/mixed;boundary=graphql")
    payloads = multipart_payloads(response)
    first = await anext(payloads)
    assert first["data"]["calculationStatus"]["status"] == "QUEUED"
    await sync_to_async(decision_calculate)(decision.pk)
    seen = [(await anext(payloads))["data"]["calculationStatus"]["status"] for _ in range(5)]
    await hang_up(payloads)

    assert ["QUEUED", *seen] == STAGES
    # A stream whose client went away leaves the decision's group.
    assert not get_channel_layer().groups.get(group_name(decision.pk))


async def test_graphql_sse_streams_next_events(voting) -> None:
    _, decision, token = voting
    response = await open_stream(SSE, token, id=gid(decision))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = sse_events(response)
    event, data = await anext(events)
    await hang_up(events)

    assert event == "next"
    assert json.loads(data)["data"]["calculationStatus"]["status"] == "QUEUED"


async def test_a_decision_the_caller_cannot_see_is_refused_in_the_stream(voting) -> None:
    _, decision, _ = voting
    response = await open_stream(SSE, None, id=gid(decision))

    events = sse_events(response)
    event, data = await anext(events)
    await hang_up(events)

    assert event == "next"
    [error] = json.loads(data)["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_a_wrong_token_is_refused_over_a_stream_too(voting) -> None:
    _, decision, _ = voting
    response = await open_stream(MULTIPART, "cv_wrong", id=gid(decision))

    assert response.status_code == 200
    [error] = json.loads(response.content)["errors"]
    assert error == {"message": INVALID_BEARER_TOKEN, "extensions": {"code": "UNAUTHENTICATED"}}


def test_a_subscription_in_a_plain_request_names_the_ways_to_stream(voting) -> None:
    _, decision, token = voting
    response = Client().post(
        "/graphql",
        data=json.dumps({"query": STATUS, "variables": {"id": gid(decision)}}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "STREAM_REQUIRED"}
    for way in ("websocket", "/graphql", "graphql-transport-ws", "graphql-ws", "text/event-stream"):
        assert way in error["message"]


URQL = (
    "application/graphql-response+json, application/graphql+json, application/json, "
    "text/event-stream, multipart/mixed"
)
APOLLO_QUERY = "multipart/mixed;deferSpec=20220824,application/json"


@pytest.mark.parametrize("accept", [URQL, APOLLO_QUERY])
def test_queries_are_answered_as_json_whatever_else_a_client_accepts(voting, accept) -> None:
    _, decision, token = voting
    response = Client().post(
        "/graphql",
        data=json.dumps(
            {
                "query": "query($id: ID!) { decision(id: $id) { title } }",
                "variables": {"id": gid(decision)},
            }
        ),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}", "Accept": accept},
    )

    assert response["Content-Type"] == "application/json"
    assert response.json()["data"]["decision"]["title"] == decision.title


async def test_a_stream_through_the_served_application_then_a_plain_request(voting) -> None:
    """The served handler runs the view in a reused thread: a stream holds its thread, and
    once the client has gone the thread serves plain requests again."""
    _, decision, token = voting
    body = json.dumps({"query": STATUS, "variables": {"id": gid(decision)}}).encode()
    stream = ApplicationCommunicator(
        application,
        {
            "type": "http",
            "method": "POST",
            "path": "/graphql",
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"accept", SSE.encode()),
                (b"authorization", f"Bearer {token}".encode()),
            ],
        },
    )
    await stream.send_input({"type": "http.request", "body": body})
    start = await stream.receive_output(timeout=10)
    text = ""
    while "event: next" not in text:
        text += (await stream.receive_output(timeout=10))["body"].decode()
    await stream.send_input({"type": "http.disconnect"})
    await stream.wait(timeout=10)

    assert start["status"] == 200
    assert json.loads(text.split("data: ", 1)[1].split("\n", 1)[0])["data"] == {
        "calculationStatus": {"id": ANY, "status": "QUEUED"}
    }
    me = HttpCommunicator(
        application,
        "POST",
        "/graphql",
        body=json.dumps({"query": "{ me { id } }"}).encode(),
        headers=[
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {token}".encode()),
        ],
    )
    assert (await me.get_response(timeout=10))["status"] == 200
