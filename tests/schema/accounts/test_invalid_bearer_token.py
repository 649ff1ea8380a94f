"""A bearer token that stopped working is refused with UNAUTHENTICATED, never silently anonymous."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.services.tokens import token_issue, token_revoke
from democracy.models import Community
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ME = "{ me { username } }"
CREATE_COMMUNITY = """mutation { createCommunity(input: {name: "Riverside"}) {
  community { id } errors { code } } }"""


def post(document: str, authorization: str | None, client: Client | None = None) -> dict[str, Any]:
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    response = (client or Client()).post(
        "/graphql",
        data=json.dumps({"query": document}),
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def assert_refused(body: dict[str, Any]) -> None:
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "token is invalid or expired" in error["message"]


def revoked_token() -> str:
    token, raw = token_issue(user=UserFactory(username="ann"))
    token_revoke(token=token)
    return raw


def inactive_users_token() -> str:
    return token_issue(user=UserFactory(username="ann", is_active=False))[1]


@pytest.mark.parametrize(
    "make_token",
    [lambda: "cv_not-a-token", revoked_token, inactive_users_token],
    ids=["unknown", "revoked", "inactive-user"],
)
def test_query_with_a_dead_token_is_refused(make_token: Any) -> None:
    assert_refused(post(ME, f"Bearer {make_token()}"))


def test_mutation_with_a_dead_token_is_refused_and_changes_nothing() -> None:
    body = post(CREATE_COMMUNITY, f"Bearer {revoked_token()}")

    assert_refused(body)
    assert "Sign in first" not in body["errors"][0]["message"]
    assert not Community.objects.exists()


def test_dead_token_is_refused_even_with_a_session() -> None:
    client = Client()
    client.force_login(UserFactory(username="ben"))

    assert_refused(post(ME, "Bearer cv_not-a-token", client))


def test_valid_token_and_no_token_still_work() -> None:
    raw = token_issue(user=UserFactory(username="ann"))[1]

    assert post(ME, f"Bearer {raw}")["data"] == {"me": {"username": "ann"}}
    assert post(ME, None)["data"] == {"me": None}


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic YTpi"])
def test_no_bearer_token_in_the_header_is_anonymous(header: str) -> None:
    assert post(ME, header)["data"] == {"me": None}
