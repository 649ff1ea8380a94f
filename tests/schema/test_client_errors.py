"""Every error a client meets has a code and a message written for them; nothing is stored."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client, override_settings

from accounts.views import SignInView
from core.logs import EventFormatter
from democracy import selectors
from democracy.models import Community, Decision
from schema.client_errors import ERROR_LOGGER
from schema.views import CrowdVoteGraphQLView
from tests.conftest import logged_to
from tests.democracy.conftest import db_state
from tests.factories import DecisionFactory, MembershipFactory
from tests.schema.conftest import gid
from tests.schema.democracy.test_mutation_decisions import CREATE as CREATE_DECISION
from tests.schema.democracy.test_mutation_decisions import UPDATE as UPDATE_DECISION
from tests.schema.sockets import STATUS

pytestmark = pytest.mark.django_db

CREATE_COMMUNITY = """
mutation($input: CreateCommunityInput!) {
  createCommunity(input: $input) { community { id } errors { code field message } }
}"""


@pytest.mark.parametrize(
    "body",
    [
        b"null",
        b"42",
        b'"text"',
        b"[1, 2]",
        b"[]",
        b"\xff\xfe{}",
        b'{"query": "{ me { id } }"\xc3',
        b'{"query": "{ me { id } }", "variables": {"name": "a\\ud800b"}}',
    ],
)
def test_a_body_that_is_not_a_utf8_json_object_is_a_400_with_a_code(body):
    response = Client().post("/graphql", data=body, content_type="application/json")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "JSON" in error["message"] or "Unicode" in error["message"]


NESTED = "[" * 100_000 + "]" * 100_000
SSE = {"Accept": "text/event-stream"}
# Malformed requests that once met Django's HTML pages (a 500 and its traceback, or a 400).
MALFORMED = [
    # Python's JSON decoder recurses per bracket: 6 KB of "[" exhaust its stack.
    ('{"query": "{ __typename }", "variables": {"a": ' + NESTED + "}}", "application/json", {}),
    (
        '{"query": "subscription { x }", "variables": {"a": ' + NESTED + "}}",
        "application/json",
        SSE,
    ),
    (
        '{"query": "{ __typename }", "variables": {"a": 1' + "0" * 5000 + "}}",
        "application/json",
        {},
    ),
    # A subscription for a stream, in a body the stream's view cannot read.
    (json.dumps({"query": STATUS}), "text/plain", SSE),
    (json.dumps({"query": STATUS, "variables": 5}), "application/json", SSE),
    (json.dumps({"query": STATUS, "extensions": [1]}), "application/json", SSE),
]


@pytest.mark.parametrize(("body", "content_type", "headers"), MALFORMED)
def test_a_malformed_request_is_a_coded_400_and_no_error_in_the_log(
    caplog, body, content_type, headers
):
    loggers = [logging.getLogger("django.request"), logging.getLogger("django.security")]
    with logged_to(caplog.handler, *loggers):
        response = Client().post("/graphql", data=body, content_type=content_type, headers=headers)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("headers", [{}, SSE])
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_over_the_upload_limit_is_a_coded_413(headers):
    body = json.dumps({"query": STATUS, "variables": {"id": "x" * 1000}})
    response = Client().post(
        "/graphql", data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert "1,000 bytes" in error["message"]


@pytest.mark.parametrize(
    ("document", "variables", "code"),
    [
        ("{ me { id }", {}, "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", {}, "GRAPHQL_VALIDATION_FAILED"),
        ("query($id: ID!) { decision(id: $id) { id } }", {}, "BAD_USER_INPUT"),
        ("query($id: ID!) { decision(id: $id) { id } }", {"id": 5.5}, "BAD_USER_INPUT"),
        (
            "query($n: Int) { communities(first: $n) { totalCount } }",
            {"n": 2**40},
            "BAD_USER_INPUT",
        ),
        ('{ communities(after: "abc") { totalCount } }', {}, "BAD_USER_INPUT"),
        ('{ communities(after: "YXJyYXljb25uZWN0aW9uOng=") { totalCount } }', {}, "BAD_USER_INPUT"),
        ("{ communities(first: -1) { totalCount } }", {}, "BAD_USER_INPUT"),
        ("{ communities(first: 101) { totalCount } }", {}, "BAD_USER_INPUT"),
    ],
)
def test_documents_and_arguments_the_api_refuses_carry_a_code(
    graphql_as, document, variables, code
):
    response = graphql_as(None)(document, **variables)
    assert response.status == 200
    assert response.error_codes == [code]
    assert "Traceback" not in response.body["errors"][0]["message"]


def test_a_page_too_large_says_the_limit(graphql_as):
    response = graphql_as(None)("{ communities(first: 101) { totalCount } }")
    assert response.body["errors"][0]["message"] == "Argument 'first' cannot be higher than 100."


def test_a_bad_cursor_says_what_is_wrong_without_internal_text(graphql_as):
    response = graphql_as(None)('{ communities(after: "abc") { totalCount } }')
    message = response.body["errors"][0]["message"]
    assert "cursor" in message
    assert "invalid literal" not in message
    assert "base64" not in message


@pytest.mark.parametrize(
    "raw_id",
    [
        "RGVjaXNpb246YWJj",  # Decision:abc ("Field 'id' expected a number")
        "RGVjaXNpb246wrI=",  # Decision:²
        "Tm9wZToxMg==",  # Nope:12
        "%%%",
        "",
    ],
)
def test_node_is_null_for_a_malformed_id_like_decision_is(graphql_as, user, raw_id):
    query = "query($id: ID!) { node(id: $id) { id } decision(id: $id) { id } }"
    assert graphql_as(user)(query, id=raw_id).data == {"node": None, "decision": None}


def test_node_still_finds_what_its_id_names(graphql_as):
    membership = MembershipFactory()
    query = "query($id: ID!) { node(id: $id) { ... on Community { name } } }"
    response = graphql_as(membership.user)(query, id=gid(membership.community))
    assert response.data == {"node": {"name": membership.community.name}}


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(EventFormatter().format(record))


@pytest.fixture
def error_log():
    handler = Captured()
    ERROR_LOGGER.addHandler(handler)
    yield handler.lines
    ERROR_LOGGER.removeHandler(handler)


def test_an_unexpected_exception_is_masked_and_its_traceback_logged(
    graphql_as, monkeypatch, error_log
):
    def broken() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(selectors, "community_list", broken)
    response = graphql_as(None)("{ communities { totalCount } }")
    [error] = response.body["errors"]
    assert error["extensions"]["code"] == "INTERNAL_ERROR"
    assert error["message"] == "Something went wrong on our side. Try again later."
    assert "hunter2" not in json.dumps(response.body)
    [line] = error_log
    assert "Unexpected error in communities: RuntimeError: secret internals" in line
    assert "Traceback" in line


def test_the_clients_mistakes_are_not_logged_as_errors(graphql_as, error_log):
    graphql_as(None)("{ " + "__typename " * 5000 + "}")
    graphql_as(None)("{ nope }")
    graphql_as(None)('{ communities(after: "abc") { totalCount } }')
    graphql_as(None)("mutation { signOut { ok } }")
    assert error_log == []


def test_a_naive_closing_time_is_a_user_error(graphql_as):
    manager = MembershipFactory(is_manager=True)
    choices = [{"title": "Park"}, {"title": "Road"}]
    before = db_state()
    response = graphql_as(manager.user)(
        CREATE_DECISION,
        input={
            "communityId": gid(manager.community),
            "title": "Budget",
            "closesAt": "2099-01-01T12:00:00",
            "choices": choices,
        },
    )
    [error] = response.data["createDecision"]["errors"]
    assert (error["code"], error["field"]) == ("INVALID_DATETIME", "closesAt")
    assert db_state() == before
    assert not Decision.objects.exists()


# Well-formed, but outside years 1-9999 once moved to UTC: Python cannot convert them.
EDGE_OF_THE_CALENDAR = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
RESULTS_AT = """query($id: ID!, $at: DateTime) { decision(id: $id) {
  results(at: $at) { calculationId } } }"""


@pytest.mark.parametrize("moment", EDGE_OF_THE_CALENDAR)
def test_a_moment_at_the_edge_of_the_calendar_is_refused_with_a_code(graphql_as, error_log, moment):
    decision = DecisionFactory(community__results_are_public=True)
    response = graphql_as(None)(RESULTS_AT, id=gid(decision), at=moment)
    [error] = response.body["errors"]
    assert error["extensions"] == {"code": "INVALID", "field": "at"}
    assert "9999" in error["message"]
    assert error_log == []


@pytest.mark.parametrize("moment", EDGE_OF_THE_CALENDAR)
def test_a_closing_time_at_the_edge_of_the_calendar_is_a_user_error(graphql_as, error_log, moment):
    manager = MembershipFactory(is_manager=True)
    draft = DecisionFactory(community=manager.community, status="DRAFT")
    client = graphql_as(manager.user)
    before = db_state()
    created = client(
        CREATE_DECISION,
        input={
            "communityId": gid(manager.community),
            "title": "Budget",
            "closesAt": moment,
            "choices": [{"title": "Park"}, {"title": "Road"}],
        },
    ).data["createDecision"]
    updated = client(UPDATE_DECISION, input={"decisionId": gid(draft), "closesAt": moment})
    for payload in (created, updated.data["updateDecision"]):
        [error] = payload["errors"]
        assert (error["code"], error["field"]) == ("INVALID_DATETIME", "closesAt")
    assert db_state() == before
    assert error_log == []


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"name": "x" * 100_000}, "TOO_LONG", "name"),
        ({"name": "Gar\x00den"}, "INVALID_CHARACTERS", "name"),
        ({"name": "Garden", "description": "\x00"}, "INVALID_CHARACTERS", "description"),
        ({"name": "Garden", "description": "x" * 5001}, "TOO_LONG", "description"),
    ],
)
def test_hostile_text_is_a_user_error_and_nothing_is_stored(graphql_as, user, change, code, field):
    response = graphql_as(user)(CREATE_COMMUNITY, input=change)
    [error] = response.data["createCommunity"]["errors"]
    assert (error["code"], error["field"]) == (code, field)
    assert len(error["message"]) < 200
    assert not Community.objects.exists()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_form_over_the_upload_limit_read_by_the_csrf_check_is_a_coded_413():
    client = Client()
    client.cookies["sessionid"] = "a-session"  # so the CSRF check reads the form's body
    response = client.post("/graphql", data={"query": "x" * 2000})
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "REQUEST_TOO_LARGE"


def test_an_unexpected_fault_before_the_view_answers_is_a_coded_json_500(monkeypatch, caplog):
    def fault(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a secret detail")

    monkeypatch.setattr(CrowdVoteGraphQLView, "dispatch", fault)
    with logged_to(caplog.handler, logging.getLogger("django.request")):
        response = Client(raise_request_exception=False).post(
            "/graphql", data={"query": "{ me { id } }"}, content_type="application/json"
        )
    assert response.status_code == 500
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_ERROR"
    assert "secret" not in response.content.decode()
    assert any("a secret detail" in (record.exc_text or "") for record in caplog.records)


def test_other_pages_keep_djangos_error_pages(monkeypatch):
    def fault(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(SignInView, "dispatch", fault)
    response = Client(raise_request_exception=False).get("/sign-in/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
