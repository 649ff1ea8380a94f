"""The permission matrix of subscriptions: each subscription, and each field only they reach.

Over the in-process websocket (``graphql-transport-ws``), each caller of ``permission_world``
subscribes; the first answer is the outcome: ``A`` a message with data, ``N`` nothing (no
calculation yet), or the code of the error that refused it. As in
``test_permission_matrix``, the tables must cover the schema exactly.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from tests.schema.permission_world import ROLES, World
from tests.schema.sockets import open_socket, subscribe
from tests.schema.test_permission_matrix import (
    AA,
    FORBID,
    GRAPHQL,
    NN,
    PRIVATE,
    PUBLIC,
    UNAUTH,
    A,
    N,
    cell_of,
    error_code,
    field_selection,
    reachable,
    value_outcome,
)

pytestmark = pytest.mark.django_db(transaction=True)

# (subscription, community, decision): the first answer each caller gets.
# fmt: off
SUBSCRIPTIONS = [
    # subscription        where    decision   nobody  stranger pending member  lobbyist manager staff
    ("calculationStatus", PRIVATE, "open",   (FORBID, FORBID,  FORBID, A,      A,       A,      FORBID)),
    ("calculationStatus", PRIVATE, "draft",  (FORBID, FORBID,  FORBID, FORBID, FORBID,  N,      FORBID)),
    ("calculationStatus", PRIVATE, "closed", (FORBID, FORBID,  FORBID, A,      A,       A,      FORBID)),
    ("calculationStatus", PUBLIC,  "open",   (A,      A,       A,      A,      A,       A,      A)),
    ("calculationStatus", PUBLIC,  "draft",  (FORBID, FORBID,  FORBID, FORBID, FORBID,  N,      FORBID)),
    ("decisionResults",   PRIVATE, "open",   (FORBID, FORBID,  FORBID, A,      A,       A,      FORBID)),
    ("decisionResults",   PRIVATE, "draft",  (FORBID, FORBID,  FORBID, FORBID, FORBID,  N,      FORBID)),
    ("decisionResults",   PRIVATE, "closed", (FORBID, FORBID,  FORBID, A,      A,       A,      FORBID)),
    ("decisionResults",   PUBLIC,  "open",   (A,      A,       A,      A,      A,       A,      A)),
    ("decisionResults",   PUBLIC,  "draft",  (FORBID, FORBID,  FORBID, FORBID, FORBID,  N,      FORBID)),
    ("myBallot",          PRIVATE, "open",   (UNAUTH, FORBID,  FORBID, A,      A,       A,      FORBID)),
    ("myBallot",          PRIVATE, "draft",  (UNAUTH, FORBID,  FORBID, FORBID, FORBID,  A,      FORBID)),
    ("myBallot",          PRIVATE, "closed", (UNAUTH, FORBID,  FORBID, A,      A,       A,      FORBID)),
    ("myBallot",          PUBLIC,  "open",   (UNAUTH, FORBID,  FORBID, A,      A,       A,      FORBID)),
    ("myBallot",          PUBLIC,  "draft",  (UNAUTH, FORBID,  FORBID, FORBID, FORBID,  A,      FORBID)),
]
# fmt: on

# The fields of MyBallot, which only the myBallot subscription reaches, on the open decision;
# each cell: the private community, then the public one (as in FIELDS).
# fmt: off
MY_BALLOT_FIELDS = {
    # type.field                    nobody stranger pending member lobbyist manager staff
    "MyBallot.calculationId":      (NN,    NN,      NN,     AA,    AA,      AA,     NN),
    "MyBallot.membership":         (NN,    NN,      NN,     AA,    AA,      AA,     NN),
    "MyBallot.standing":           (NN,    NN,      NN,     AA,    AA,      AA,     NN),
    "MyBallot.isCounted":          (NN,    NN,      NN,     AA,    AA,      AA,     NN),
    "MyBallot.tags":               (NN,    NN,      NN,     AA,    NN,      AA,     NN),
    "MyBallot.stars":              (NN,    NN,      NN,     AA,    NN,      AA,     NN),
    "MyBallot.sources":            (NN,    NN,      NN,     NN,    NN,      AA,     NN),
    "MyBallot.abstentionReason":   (NN,    NN,      NN,     NN,    AA,      NN,     NN),
    "MyBallot.abstentionMessage":  (NN,    NN,      NN,     NN,    AA,      NN,     NN),
}
# fmt: on

MY_BALLOT_TYPE = GRAPHQL.get_type("MyBallot")


def _document(name: str) -> str:
    fields = "__typename"
    if name == "myBallot":
        fields = " ".join(field_selection("MyBallot", f) for f in MY_BALLOT_TYPE.fields)
    return f"subscription($id: ID!) {{ {name}(decisionId: $id) {{ {fields} }} }}"


async def first_answers(world: World, role: str) -> dict[str, tuple[str, Any]]:
    """Subscribe to every line as ``role``; return each one's outcome and data."""
    socket = await open_socket(world.tokens.get(role))
    lines = {str(i): line for i, line in enumerate(SUBSCRIPTIONS)}
    for op, (name, public, decision, _) in lines.items():
        await subscribe(socket, op, _document(name), id=world.place(public).ids[decision])
    answers: dict[str, tuple[str, Any]] = {}
    while len(answers) < len(lines):
        # Waiting with receive_json_from would cancel the server on a timeout.
        if await socket.receive_nothing(timeout=1.5):
            break  # What has not answered by now sends nothing (no calculation yet).
        message = await socket.receive_json_from()
        op = message.get("id")
        if op in answers or op not in lines:
            continue
        if message["type"] == "next" and message["payload"].get("errors"):
            answers[op] = (error_code(message["payload"]["errors"][0]), None)
        elif message["type"] == "next":
            answers[op] = (A, message["payload"]["data"])
        elif message["type"] == "error":
            answers[op] = (error_code(message["payload"][0]), None)
        elif message["type"] == "complete":
            answers[op] = (N, None)
    await socket.disconnect()
    return {op: answers.get(op, (N, None)) for op in lines}


def test_every_subscription_and_its_fields_have_lines():
    subscription = GRAPHQL.subscription_type
    assert subscription is not None
    assert {line[0] for line in SUBSCRIPTIONS} == set(subscription.fields)
    only_here = (
        reachable("Subscription")
        - reachable("Query")
        - {f"Subscription.{name}" for name in subscription.fields}
    )
    assert only_here == set(MY_BALLOT_FIELDS)


async def test_subscriptions():
    world = await sync_to_async(World)()
    answers = {role: await first_answers(world, role) for role in ROLES}
    actual = [tuple(answers[role][str(i)][0] for role in ROLES) for i in range(len(SUBSCRIPTIONS))]
    expected = [line[3] for line in SUBSCRIPTIONS]
    assert actual == expected, "\n".join(f"({', '.join(row)})" for row in actual)

    my_ballot = {
        public: next(
            str(i)
            for i, (name, where, decision, _) in enumerate(SUBSCRIPTIONS)
            if (name, where, decision) == ("myBallot", public, "open")
        )
        for public in (PRIVATE, PUBLIC)
    }
    fields: dict[str, tuple[str, ...]] = {}
    for field in MY_BALLOT_TYPE.fields:
        cells = []
        for role in ROLES:
            private, public = (answers[role][my_ballot[where]][1] for where in (PRIVATE, PUBLIC))
            cells.append(
                cell_of(
                    N if private is None else value_outcome(private["myBallot"][field]),
                    N if public is None else value_outcome(public["myBallot"][field]),
                )
            )
        fields[f"MyBallot.{field}"] = tuple(cells)
    assert fields == MY_BALLOT_FIELDS, "\n".join(
        f'"{k}": ({", ".join(v)}),' for k, v in fields.items()
    )
