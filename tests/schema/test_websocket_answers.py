"""What a websocket cannot do is refused with a code and a message, never INTERNAL_ERROR.

Limits are checked before a document is parsed or its variables coerced; the socket stays
open.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from accounts.models import ApiToken
from accounts.services.tokens import token_issue
from crowdvote.asgi import application
from democracy.models import Decision
from schema import feeds
from schema.client_errors import ERROR_LOGGER
from schema.context import global_pk
from tests.conftest import logged_to
from tests.factories import DecisionFactory, MembershipFactory
from tests.schema.conftest import gid
from tests.schema.sockets import STATUS, open_socket, subscribe

pytestmark = pytest.mark.django_db(transaction=True)

ACCOUNT_MUTATIONS = [
    'mutation { requestMagicLink(email: "x@example.org") { ok errors { code } } }',
    'mutation { signInWithMagicLink(token: "cvl_nope") { token errors { code } } }',
    "mutation { signOut { ok errors { code } } }",
]
TOO_LONG = "subscription { __typename }" + "#" * 70_000
CAST = "mutation($i: CastBallotInput!) { castBallot(input: $i) { errors { code } } }"


@pytest.fixture
def no_error_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with logged_to(caplog.handler, logging.getLogger("strawberry"), ERROR_LOGGER):
        yield
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.fixture
def member() -> tuple[str, str]:
    """A member's token and a decision of theirs without a calculation (quiet to follow)."""
    membership = MembershipFactory()
    decision = DecisionFactory(community=membership.community, choices=["a", "b"])
    return token_issue(user=membership.user)[1], gid(decision)


async def legacy_socket(token: str | None = None) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, "/graphql", subprotocols=["graphql-ws"])
    assert (await socket.connect())[0]
    payload = {"authorization": f"Bearer {token}"} if token else {}
    await socket.send_json_to({"type": "connection_init", "payload": payload})
    assert (await socket.receive_json_from(timeout=5))["type"] == "connection_ack"
    return socket


async def start(socket: WebsocketCommunicator, op: str, query: str, **variables: Any) -> None:
    payload = {"query": query, "variables": variables}
    await socket.send_json_to({"type": "start", "id": op, "payload": payload})


def only_error(message: dict[str, Any], op: str) -> dict[str, Any]:
    assert (message["id"], message["type"]) == (op, "error"), message
    payload = message["payload"]
    [error] = payload if isinstance(payload, list) else [payload]
    return error


async def still_open(socket: WebsocketCommunicator) -> None:
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from(timeout=5))["type"] == "pong"


@pytest.mark.parametrize("mutation", ACCOUNT_MUTATIONS)
async def test_account_mutations_say_to_use_http(no_error_logged, member, mutation) -> None:
    token, _ = member
    socket = await open_socket(token)

    await subscribe(socket, "m", mutation)
    answer = await socket.receive_json_from(timeout=5)

    assert answer["type"] == "next"
    [error] = answer["payload"]["errors"]
    assert error["extensions"]["code"] == "HTTP_ONLY"
    assert "POST /graphql" in error["message"]
    assert await ApiToken.objects.filter(revoked_at__isnull=True).aexists()  # not signed out
    await socket.disconnect()


async def test_the_101st_operation_is_refused_with_a_code(no_error_logged, member) -> None:
    token, decision = member
    socket = await open_socket(token)
    for op in range(100):
        await subscribe(socket, str(op), STATUS, id=decision)

    await subscribe(socket, "100", STATUS, id=decision)

    error = only_error(await socket.receive_json_from(timeout=10), "100")
    assert error["extensions"] == {"code": "TOO_MANY_SUBSCRIPTIONS"}
    assert "100 operations" in error["message"]
    await still_open(socket)
    await socket.disconnect()


async def test_the_101st_subscription_over_graphql_ws_is_refused_with_a_code(member) -> None:
    token, decision = member
    socket = await legacy_socket(token)
    for op in range(100):
        await start(socket, str(op), STATUS, id=decision)

    await start(socket, "100", STATUS, id=decision)

    error = only_error(await socket.receive_json_from(timeout=10), "100")
    assert error["extensions"] == {"code": "TOO_MANY_SUBSCRIPTIONS"}
    await socket.disconnect()


@pytest.mark.parametrize("query", ["{ communities { totalCount } }", ACCOUNT_MUTATIONS[2]])
async def test_a_query_over_graphql_ws_says_which_protocol_to_use(no_error_logged, query) -> None:
    socket = await legacy_socket()

    await start(socket, "1", query)

    error = only_error(await socket.receive_json_from(timeout=5), "1")
    assert error["extensions"] == {"code": "SUBSCRIPTIONS_ONLY"}
    assert "graphql-transport-ws or HTTP" in error["message"]
    await start(socket, "2", "subscription { nope }")  # still answered
    assert (await socket.receive_json_from(timeout=5))["id"] == "2"
    await socket.disconnect()


def never_parsed(*args: object, **kwargs: object) -> None:
    raise AssertionError("parsed a document over the limit")


@pytest.mark.parametrize(
    ("query", "variables", "code", "says"),
    [
        (TOO_LONG, {}, "QUERY_TOO_COMPLEX", "GRAPHQL_MAX_DOCUMENT_BYTES"),
        (CAST, {"i": {"decisionId": "x", "stars": [{}] * 101}}, "BAD_USER_INPUT", "101 items"),
    ],
)
async def test_limits_are_checked_before_parsing(
    no_error_logged, monkeypatch, query, variables, code, says
) -> None:
    monkeypatch.setattr(feeds, "parse", never_parsed)
    socket = await open_socket(None)

    await subscribe(socket, "1", query, **variables)

    error = only_error(await socket.receive_json_from(timeout=5), "1")
    assert error["extensions"] == {"code": code}
    assert says in error["message"]
    await still_open(socket)
    await socket.disconnect()


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        (TOO_LONG, {}, "QUERY_TOO_COMPLEX"),
        (STATUS, {"id": ["x"] * 101}, "BAD_USER_INPUT"),
    ],
)
async def test_limits_are_checked_before_parsing_over_graphql_ws(
    no_error_logged, monkeypatch, query, variables, code
) -> None:
    monkeypatch.setattr(feeds, "parse", never_parsed)
    socket = await legacy_socket()

    await start(socket, "1", query, **variables)

    error = only_error(await socket.receive_json_from(timeout=5), "1")
    assert error["extensions"] == {"code": code}
    assert "(GRAPHQL_MAX_" in error["message"]
    await socket.disconnect()


def test_the_shared_feeds_cache_never_holds_a_document_over_the_limit() -> None:
    before = feeds._parsed_kind.cache_info().currsize

    assert not feeds.shareable(TOO_LONG, None)
    assert feeds.operation_type(TOO_LONG, None) is None

    assert feeds._parsed_kind.cache_info().currsize == before


async def test_a_ballot_cast_over_a_socket_lists_its_queued_calculation(
    no_error_logged, member
) -> None:
    token, decision_id = member
    decision = await Decision.objects.aget(pk=global_pk(decision_id, type_name="Decision"))
    choice = await decision.choices.afirst()
    assert choice is not None
    socket = await open_socket(token)
    cast = "mutation($i: CastBallotInput!) { castBallot(input: $i) { calculations { status } } }"

    await subscribe(
        socket,
        "c",
        cast,
        i={"decisionId": decision_id, "stars": [{"choiceId": gid(choice), "stars": 4}]},
    )
    answer = await socket.receive_json_from(timeout=5)

    assert answer["type"] == "next", answer
    assert answer["payload"] == {"data": {"castBallot": {"calculations": [{"status": "QUEUED"}]}}}
    await socket.disconnect()
