"""Schema-driven fuzzing through the real HTTP endpoint.

Hypothesis builds random queries and mutations from the schema's introspection, with
random and often hostile arguments (huge strings, NUL, other digits than 0-9, foreign or
malformed IDs, negative numbers, values of the wrong type), and sends them as a stranger,
a member, a manager or nobody. Whatever it sends:

- the server never answers 5xx;
- every GraphQL error has ``extensions.code`` (a payload's ``UserError`` has its ``code``),
  and none is ``INTERNAL_ERROR`` (a masked fault);
- a request answered with an error stored nothing (row counts of every table unchanged).

``FUZZ_EXAMPLES`` sets the number of requests (300 by default; derandomized unless set).
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.utils import timezone
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    build_client_schema,
    get_introspection_query,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from accounts.services.tokens import token_issue
from democracy.models import Role
from schema.schema import schema
from tests.factories import (
    BallotFactory,
    CommunityFactory,
    DecisionFactory,
    FollowingFactory,
    MembershipFactory,
    UserFactory,
)
from tests.schema.conftest import gid

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
MAX_DEPTH = 3
STATS: Counter[str] = Counter()


def raw_id(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


HOSTILE_IDS = [
    raw_id("Decision:\u0663"),  # Arabic-Indic three
    raw_id("Decision:\u00b2"),  # superscript two
    raw_id("Decision:abc"),
    raw_id("Decision:-1"),
    raw_id("Decision:" + "9" * 40),
    raw_id("Membership:0"),
    raw_id("Nope:1"),
    "1",
    "",
    "\x00",
    "%%%",
    "x" * 10_000,
]
HOSTILE_TEXT = [
    "",
    "   ",
    "\x00",
    "a\x00b",
    "x" * 100_000,
    "line\nbreak",
    "\x1b[2J\x1b[31mred",
    "\u202egnp.exe",
    "\u0663",
    "\ud800",  # a lone surrogate: valid JSON, not encodable as UTF-8
    "%_%\\",
    "Robert'); DROP TABLE democracy_community;--",
    "eve@example.com",
    "budget",
]
HOSTILE_DATETIMES = [
    "2099-01-01T12:00:00",  # naive
    "2099-01-01T12:00:00Z",
    "1999-01-01T00:00:00+00:00",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00-12:00",
    "tomorrow",
    "",
]
WRONG_TYPES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _client_schema() -> GraphQLSchema:
    introspection = schema.execute_sync(get_introspection_query())
    assert introspection.data is not None
    return build_client_schema(introspection.data)  # type: ignore[arg-type]


CLIENT_SCHEMA = _client_schema()


class World:
    """The objects the fuzzer's IDs point at, and who calls."""

    def __init__(self) -> None:
        manager = MembershipFactory(is_manager=True, community=CommunityFactory(name="Garden"))
        community = manager.community
        member = MembershipFactory(community=community)
        lobbyist = MembershipFactory(community=community, role=Role.LOBBYIST)
        public = CommunityFactory(name="Open Square", results_are_public=True)
        pending = MembershipFactory(community=public, is_approved=False)
        open_decision = DecisionFactory(community=community, choices=["Park", "Road"])
        draft = DecisionFactory(community=community, status="DRAFT", choices=["A", "B"])
        public_decision = DecisionFactory(community=public)
        closed = DecisionFactory(
            community=community, status="CLOSED", closes_at=timezone.now() + timedelta(days=1)
        )
        BallotFactory(decision=open_decision, membership=member, stars={"Park": 4})
        FollowingFactory(community=community, follower=member, followee=manager)
        self.users: dict[str, User | None] = {
            "nobody": None,
            "stranger": UserFactory(),
            "member": member.user,
            "manager": manager.user,
        }
        objects = [community, public, manager, member, lobbyist, pending]
        objects += [open_decision, draft, public_decision, closed, member.user]
        objects += list(open_decision.choices.all()) + list(draft.choices.all())
        self.ids: dict[str, list[str]] = {}
        for obj in objects:
            self.ids.setdefault(type(obj).__name__, []).append(gid(obj))
        self.tokens: dict[str, str] = {}
        for caller in self.users:
            self.sign_in(caller)

    def sign_in(self, caller: str) -> None:
        user = self.users[caller]
        if user is not None:
            self.tokens[caller] = token_issue(user=user, name="fuzz")[1]


def fingerprint() -> tuple[int, ...]:
    """Return the row count of every table, in one query."""
    tables = [model._meta.db_table for model in apps.get_models() if model._meta.managed]
    counts = ", ".join(f'(SELECT COUNT(*) FROM "{table}")' for table in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")
        return tuple(cursor.fetchone())


# How hostile one request is: plain values, hostile values, or also values of wrong types.
PLAIN, HOSTILE, WRONG = 0, 1, 2


# An ID argument's name says what it points at; mostly it gets an ID of that kind.
ID_KINDS = {
    "communityId": "Community",
    "decisionId": "Decision",
    "membershipId": "Membership",
    "followeeId": "Membership",
    "choiceId": "Choice",
}


def input_value(
    draw: st.DrawFn, type_: GraphQLInputType, ids: dict[str, list[str]], mode: int, name: str
) -> Any:
    """Draw a value for argument ``name`` of ``type_``: typed, hostile, or of another type."""
    if isinstance(type_, GraphQLNonNull):
        return input_value(draw, type_.of_type, ids, mode, name)
    if mode == WRONG and draw(st.integers(0, 10)) == 0:
        return draw(WRONG_TYPES)
    if isinstance(type_, GraphQLList):
        size = draw(st.sampled_from([0, 1, 2, 3, 25] if mode else [2, 3]))
        return [input_value(draw, type_.of_type, ids, mode, name) for _ in range(size)]
    if isinstance(type_, GraphQLInputObjectType):
        return {
            key: input_value(draw, field.type, ids, mode, key)
            for key, field in type_.fields.items()
            if isinstance(field.type, GraphQLNonNull) or draw(st.booleans())
        }
    if isinstance(type_, GraphQLEnumType):
        values = [*type_.values, "NOT_A_VALUE"] if mode else list(type_.values)
        return draw(st.sampled_from(values))
    assert isinstance(type_, GraphQLScalarType)
    return draw(scalar(type_.name, ids, mode, name))


def scalar(
    type_name: str, ids: dict[str, list[str]], mode: int, name: str
) -> st.SearchStrategy[Any]:
    if type_name == "ID":
        every = [i for kind in ids.values() for i in kind]
        typed = ids[ID_KINDS[name]] if name in ID_KINDS else every
        if not mode:
            return st.sampled_from(typed)
        return st.one_of(st.sampled_from(typed), st.sampled_from(every + HOSTILE_IDS))
    if type_name == "Int":
        if not mode:
            return st.integers(0, 5)
        edges = [-(2**31), -1, 0, 1, 2, 3, 5, 6, 100, 101, 2**31 - 1]
        return st.one_of(st.sampled_from(edges), st.integers(-(2**31), 2**31 - 1))
    if type_name == "Boolean":
        return st.booleans()
    if type_name == "DateTime":
        future = (timezone.now() + timedelta(days=3)).isoformat()
        return st.sampled_from([future, *HOSTILE_DATETIMES] if mode else [future])
    plain = st.from_regex(r"[a-z]{1,12}", fullmatch=True)
    if not mode:
        return plain
    return st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=30), plain)


def selection(draw: st.DrawFn, type_: GraphQLOutputType, depth: int = 0) -> str:
    """Return a selection set for ``type_``: its scalars and some of its objects."""
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    if not isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
        return ""
    parts = ["__typename"]
    for name, field in type_.fields.items():
        if any(isinstance(arg.type, GraphQLNonNull) for arg in field.args.values()):
            continue
        inner = selection(draw, field.type, depth + 1) if depth < MAX_DEPTH else ""
        named = field.type
        while isinstance(named, GraphQLNonNull | GraphQLList):
            named = named.of_type
        if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            parts.append(name)
        elif name == "errors" or (inner and draw(st.integers(0, 3)) == 0):
            page = "(first: 2)" if "first" in field.args else ""
            parts.append(f"{name}{page} {inner}")
    return "{ " + " ".join(parts) + " }"


@st.composite
def requests(draw: st.DrawFn, ids: dict[str, list[str]]) -> tuple[str, str, dict[str, Any]]:
    """Draw (caller, document, variables) for one root query or mutation field."""
    root = draw(st.sampled_from([CLIENT_SCHEMA.query_type, CLIENT_SCHEMA.mutation_type]))
    assert root is not None
    name = draw(st.sampled_from(sorted(root.fields)))
    field = root.fields[name]
    mode = draw(st.sampled_from([PLAIN, HOSTILE, HOSTILE, WRONG]))
    declared, passed, variables = [], [], {}
    for i, (arg_name, arg) in enumerate(field.args.items()):
        if not isinstance(arg.type, GraphQLNonNull) and draw(st.booleans()):
            continue
        declared.append(f"$v{i}: {arg.type}")
        passed.append(f"{arg_name}: $v{i}")
        variables[f"v{i}"] = input_value(draw, arg.type, ids, mode, arg_name)
    operation = "query" if root is CLIENT_SCHEMA.query_type else "mutation"
    header = f"{operation} Fuzz({', '.join(declared)})" if declared else f"{operation} Fuzz"
    arguments = f"({', '.join(passed)})" if passed else ""
    document = f"{header} {{ {name}{arguments} {selection(draw, field.type, 1)} }}"
    caller = draw(st.sampled_from(["nobody", "stranger", "member", "manager"]))
    return caller, document, variables


def user_errors(data: Any) -> list[dict[str, Any]]:
    """Return every ``UserError`` in a mutation's answer."""
    if not isinstance(data, dict):
        return []
    found = []
    for key, value in data.items():
        if key == "errors" and isinstance(value, list):
            found += value
        elif isinstance(value, dict):
            found += user_errors(value)
    return found


@pytest.mark.django_db
def test_fuzzed_requests_never_fail_uncoded_or_store_anything_on_error(capsys):
    world = World()
    client = Client()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize="FUZZ_EXAMPLES" not in os.environ,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(request=requests(world.ids))
    def send(request: tuple[str, str, dict[str, Any]]) -> None:
        caller, document, variables = request
        headers = {}
        if caller in world.tokens:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {world.tokens[caller]}"
        body = json.dumps({"query": document, "variables": variables})
        before = fingerprint()
        response = client.post("/graphql", body, content_type="application/json", **headers)
        after = fingerprint()

        context = f"{caller}: {document} {body[:2000]}"
        assert response.status_code < 500, context
        answer = response.json()
        errors = answer.get("errors") or []
        payload_errors = user_errors(answer.get("data"))
        for error in errors:
            assert error.get("extensions", {}).get("code"), (error, context)
            assert error["extensions"]["code"] != "INTERNAL_ERROR", (error, context)
            STATS[f"error {error['extensions']['code']}"] += 1
            if os.environ.get("FUZZ_VERBOSE"):
                print(error["extensions"]["code"], error["message"][:150])
        for error in payload_errors:
            assert error.get("code"), (error, context)
            STATS[f"userError {error.get('code')}"] += 1
        if errors or payload_errors:
            assert after == before, ("stored on error", errors, payload_errors, context)
            STATS["answered with an error"] += 1
        else:
            STATS["answered without error"] += 1
        STATS[f"status {response.status_code}"] += 1
        STATS["requests"] += 1
        if "signOut" in document:
            world.sign_in(caller)  # the token was revoked: the next request needs a new one

    send()
    if "FUZZ_EXAMPLES" in os.environ:
        with capsys.disabled():
            print("\nfuzz:", dict(sorted(STATS.items())))
    assert STATS["requests"] >= EXAMPLES * 0.9
