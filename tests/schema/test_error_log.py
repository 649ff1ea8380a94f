"""Expected GraphQL errors are one event line; only unexpected ones carry a traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async

from accounts.services.magic_links import MAGIC_LINK_PREFIX
from accounts.services.tokens import new_secret, token_issue
from calc import results
from core.logs import EVENT_LOGGER, EventFormatter
from schema.client_errors import ERROR_LOGGER
from tests.conftest import logged_to
from tests.factories import DecisionFactory, MembershipFactory, UserFactory
from tests.schema.conftest import gid
from tests.schema.sockets import STATUS, open_socket, subscribe

STRAWBERRY = logging.getLogger("strawberry")


class Errors:
    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def __iter__(self) -> Iterator[logging.LogRecord]:
        """Error records: REQUEST_REFUSED events, server faults and strawberry's own."""
        for record in self.caplog.records:
            refused = getattr(record, "event", None) == "REQUEST_REFUSED"
            if refused or record.name.startswith(("strawberry", ERROR_LOGGER.name)):
                yield record


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Iterator[Errors]:
    """Error records of the event and strawberry loggers, which may not reach the root."""
    caplog.set_level(logging.INFO, logger=EVENT_LOGGER.name)
    with logged_to(caplog.handler, EVENT_LOGGER, STRAWBERRY, ERROR_LOGGER):
        yield Errors(caplog)


def one_line(records: Errors) -> str:
    [record] = records
    assert record.exc_info is None
    assert record.event == "REQUEST_REFUSED"  # type: ignore[attr-defined]
    line = EventFormatter().format(record)
    assert "\n" not in line
    return line


RECALCULATE = "mutation($id: ID!) { recalculateDecision(decisionId: $id) { errors { code } } }"


def test_forbidden_is_one_event_line(graphql_as, records) -> None:
    decision = DecisionFactory(choices=["a", "b"])
    voter = MembershipFactory(community=decision.community).user

    response = graphql_as(voter)(RECALCULATE, id=gid(decision))

    assert response.error_codes == ["FORBIDDEN"]
    line = one_line(records)
    assert f"[REQUEST_REFUSED] [{voter.username}] - FORBIDDEN at recalculateDecision: " in line


def test_unauthenticated_is_one_event_line(graphql_as, records) -> None:
    decision = DecisionFactory(choices=["a", "b"])

    response = graphql_as(None)(RECALCULATE, id=gid(decision))

    assert response.error_codes == ["UNAUTHENTICATED"]
    assert "[-] - UNAUTHENTICATED at recalculateDecision: Sign in first" in one_line(records)


def test_an_invalid_document_is_one_event_line(graphql_as, records) -> None:
    response = graphql_as(UserFactory())("{ nope }")

    assert response.body["data"] is None
    assert "Cannot query field 'nope' on type 'Query'." in one_line(records)


def test_an_unexpected_error_keeps_its_traceback(graphql_as, records, monkeypatch) -> None:
    member = MembershipFactory()
    decision = DecisionFactory(community=member.community, choices=["a", "b"])

    def broken(decision: object) -> None:
        raise RuntimeError("the database fell over")

    monkeypatch.setattr(results, "calculation_latest", broken)
    response = graphql_as(member.user)(
        "query($id: ID!) { decision(id: $id) { calculation { id } } }", id=gid(decision)
    )

    [error] = response.body["errors"]
    assert error["extensions"]["code"] == "INTERNAL_ERROR"
    assert "fell over" not in error["message"]  # masked: the client learns nothing internal
    [record] = records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert "RuntimeError: the database fell over" in EventFormatter().format(record)


@pytest.mark.django_db(transaction=True)
async def test_a_refused_subscription_is_one_event_line(records) -> None:
    decision = await sync_to_async(DecisionFactory)(choices=["a", "b"])
    stranger = await sync_to_async(MembershipFactory)()
    token = (await sync_to_async(token_issue)(user=stranger.user))[1]
    socket = await open_socket(token)
    await subscribe(socket, "s", STATUS, id=gid(decision))

    refused = await socket.receive_json_from(timeout=5)
    await socket.disconnect()

    assert refused["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert f"[{stranger.user.username}] - FORBIDDEN: No decision has this ID" in one_line(records)


def logged(records: Errors) -> str:
    """Every error record as the log file would hold it."""
    return "\n".join(EventFormatter().format(record) for record in records)


SIGN_IN = "mutation($t: String!) { signInWithMagicLink(token: $t) { token } }"


def test_a_refused_sign_in_code_never_reaches_the_log(graphql_as, records) -> None:
    # Without "-", which would stop the parser before validation (GRAPHQL_PARSE_FAILED).
    code = new_secret(MAGIC_LINK_PREFIX).replace("-", "x")
    unquoted = graphql_as(None)(f"mutation {{ signInWithMagicLink(token: {code}) {{ token }} }}")
    as_list = graphql_as(None)(SIGN_IN, t=[code])
    aliased = graphql_as(None)("mutation { s: signInWithMagicLink(token: 42) { token } }")

    assert unquoted.error_codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert as_list.error_codes == ["BAD_USER_INPUT"]
    assert aliased.error_codes == ["GRAPHQL_VALIDATION_FAILED"]
    text = logged(records)
    assert text.count("[REQUEST_REFUSED]") == 3
    assert code[4:] not in text
    assert "non string value: 42" not in text  # no argument of a sign-in is logged


def test_anything_shaped_like_a_token_is_masked_in_every_line(graphql_as, records) -> None:
    token = new_secret()
    response = graphql_as(None)("query($n: Int) { communities(first: $n) { totalCount } }", n=token)

    assert response.error_codes == ["BAD_USER_INPUT"]
    assert token in response.body["errors"][0]["message"]  # the client sees what it sent
    line = one_line(records)
    assert token[3:] not in line
    assert "non-integer value: 'cv_…'" in line


def test_a_secret_in_a_traceback_is_masked(records) -> None:
    token = new_secret()
    try:
        raise RuntimeError(f"failed with {token}")
    except RuntimeError:
        ERROR_LOGGER.exception("Unexpected error with %s", token)

    text = logged(records)
    assert "Traceback" in text
    assert token[3:] not in text
