"""Subscriptions in-process: the ASGI app, a websocket communicator, the in-memory layer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from strawberry.relay import from_base64, to_base64

from accounts.services.tokens import token_issue
from calc.broadcast import calculation_message, group_name
from calc.models import Calculation
from calc.services import decision_calculate
from crowdvote.asgi import application
from tests.factories import BallotFactory, MembershipFactory
from tests.schema.conftest import gid
from tests.schema.sockets import RESULTS, STATUS, next_payload, open_socket, subscribe

pytestmark = pytest.mark.django_db(transaction=True)


def operation_tasks() -> set[asyncio.Task[Any]]:
    """The server's running subscriptions: one task each, done once it has cleaned up."""
    return {t for t in asyncio.all_tasks() if "run_operation" in repr(t.get_coro())}


async def test_status_subscription_streams_every_stage_then_the_result(voting):
    _, decision, token = voting
    socket = await open_socket(token)
    await subscribe(socket, "s", STATUS, id=gid(decision))
    first = await next_payload(socket)
    assert first["data"]["calculationStatus"]["status"] == "QUEUED"
    await sync_to_async(decision_calculate)(decision.pk)
    statuses = [
        (await next_payload(socket))["data"]["calculationStatus"]["status"] for _ in range(5)
    ]
    assert statuses == ["CREATING", "READY", "STAGING", "TALLYING", "COMPLETED"]
    await socket.disconnect()


async def test_results_subscription_sends_current_result_then_each_new_one(voting):
    member, decision, token = voting
    await sync_to_async(decision_calculate)(decision.pk)
    socket = await open_socket(token)
    await subscribe(socket, "r", RESULTS, id=gid(decision))
    current = (await next_payload(socket))["data"]["decisionResults"]
    assert current["scores"][0]["totalStars"] == "4.00000000"
    # The same global ID as Decision.results, from the calculation: caches can merge them.
    _, calculation_pk = from_base64(current["calculationId"])
    assert current["id"] == to_base64("DecisionResults", calculation_pk)

    other = await sync_to_async(MembershipFactory)(community=member.community)
    await sync_to_async(BallotFactory)(decision=decision, membership=other, stars={"road": 5})
    await sync_to_async(decision_calculate)(decision.pk)
    newer = await next_payload(socket)
    assert newer["data"]["decisionResults"]["winner"] == {"title": "road"}
    await socket.disconnect()


async def test_repeated_or_older_broadcasts_are_skipped(voting):
    _, decision, token = voting
    await sync_to_async(decision_calculate)(decision.pk)
    socket = await open_socket(token)
    await subscribe(socket, "s", STATUS, id=gid(decision))
    assert (await next_payload(socket))["data"]["calculationStatus"]["status"] == "COMPLETED"
    completed = await sync_to_async(Calculation.objects.get)(decision=decision)
    layer = get_channel_layer()
    await layer.group_send(group_name(decision.pk), calculation_message(completed))
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_private_decision_refuses_a_stranger(voting):
    _, decision, _ = voting
    stranger = await sync_to_async(MembershipFactory)()
    token = (await sync_to_async(token_issue)(user=stranger.user))[1]
    socket = await open_socket(token)
    await subscribe(socket, "s", STATUS, id=gid(decision))
    message = await socket.receive_json_from(timeout=5)
    assert message["type"] == "next"
    assert message["payload"]["data"] is None
    assert message["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await socket.receive_json_from(timeout=5))["type"] == "complete"
    await socket.disconnect()


async def test_ending_a_subscription_leaves_its_group_and_keeps_siblings(voting):
    _, decision, token = voting
    layer = get_channel_layer()
    group = group_name(decision.pk)
    socket = await open_socket(token)
    await subscribe(socket, "a", STATUS, id=gid(decision))
    await subscribe(socket, "b", STATUS, id=gid(decision))
    await next_payload(socket)
    await next_payload(socket)
    assert len(layer.groups.get(group, {})) == 1
    operations = operation_tasks()
    assert len(operations) == 2

    await socket.send_json_to({"type": "complete", "id": "a"})
    ended, _ = await asyncio.wait(operations, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    assert len(ended) == 1  # "a" has run its clean-up, group bookkeeping included.
    assert len(layer.groups.get(group, {})) == 1  # "b" still listens on the same channel.
    await sync_to_async(decision_calculate)(decision.pk)
    sibling = await socket.receive_json_from(timeout=10)
    assert (sibling["type"], sibling["id"]) == ("next", "b")
    assert sibling["payload"]["data"]["calculationStatus"]["status"] == "CREATING"

    await socket.disconnect()
    _, running = await asyncio.wait(operations, timeout=5)
    assert not running
    assert not layer.groups.get(group)
    tasks = [t for t in asyncio.all_tasks() if "listen" in repr(t.get_coro())]
    assert tasks == []


async def test_bad_token_is_rejected_with_a_message():
    socket = WebsocketCommunicator(application, "/graphql", subprotocols=["graphql-transport-ws"])
    await socket.connect()
    await socket.send_to(
        text_data=json.dumps(
            {"type": "connection_init", "payload": {"authorization": "Bearer nope"}}
        )
    )
    closed = await socket.receive_output(timeout=5)
    assert closed["type"] == "websocket.close"
    assert closed["code"] == 4403


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("subscription { nope }", "GRAPHQL_VALIDATION_FAILED"),
        ("subscription {" + " __typename" * 3000 + " }", "QUERY_TOO_COMPLEX"),
        ("subscription { calculationStatus(decisionId: 5) { id }", "GRAPHQL_PARSE_FAILED"),
    ],
)
async def test_a_refused_subscription_document_answers_with_a_code(query, code):
    socket = await open_socket(None)
    await subscribe(socket, "s", query)
    message = await socket.receive_json_from(timeout=5)
    assert message["type"] == "error"
    assert [error["extensions"]["code"] for error in message["payload"]] == [code]
    await socket.disconnect()


async def test_a_live_result_carries_influence_without_broadcasting_it(voting):
    member, decision, token = voting
    await sync_to_async(decision_calculate)(decision.pk)
    completed = await sync_to_async(Calculation.objects.get)(decision=decision)
    assert "influence" in completed.results
    assert "influence" not in calculation_message(completed)["calculation"]["results"]

    socket = await open_socket(token)
    query = """subscription($id: ID!) { decisionResults(decisionId: $id) {
      influence(first: 5) { edges { node { id } influence } } } }"""
    await subscribe(socket, "r", query, id=gid(decision))
    await next_payload(socket)  # the current result, read from the database
    other = await sync_to_async(MembershipFactory)(community=member.community)
    await sync_to_async(BallotFactory)(decision=decision, membership=other, stars={"road": 5})
    await sync_to_async(decision_calculate)(decision.pk)
    newer = (await next_payload(socket))["data"]["decisionResults"]["influence"]
    assert sorted(edge["influence"] for edge in newer["edges"]) == ["1.00000000", "1.00000000"]
    await socket.disconnect()


async def test_node_answers_a_query_sent_over_the_websocket(voting):
    """The widget asks for the final snapshot with ``node(id:)`` on its one socket."""
    _, decision, token = voting
    await sync_to_async(decision_calculate)(decision.pk)
    calculation = await sync_to_async(Calculation.objects.get)(decision=decision)
    socket = await open_socket(token)
    query = "query($id: ID!) { node(id: $id) { ... on Calculation { snapshotUrl } } }"
    await subscribe(socket, "q", query, id=to_base64("Calculation", calculation.pk))
    answer = await next_payload(socket)
    assert answer["data"]["node"]["snapshotUrl"].startswith("/snapshots/")
    await socket.disconnect()
