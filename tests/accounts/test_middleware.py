"""Bearer tokens on HTTP requests, and CSRF for cookie-authenticated ones."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.services.tokens import token_issue, token_revoke
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ME = "{ me { username } }"


def post_me(client: Client, **headers: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/graphql", data=json.dumps({"query": ME}), content_type="application/json", **headers
    )


def me_of(response) -> str | None:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content
    me = response.json()["data"]["me"]
    return me and me["username"]


def refused(response) -> bool:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content
    body = response.json()
    return body["data"] is None and [e["extensions"]["code"] for e in body["errors"]] == [
        "UNAUTHENTICATED"
    ]


def test_valid_bearer_token_signs_the_request_in():
    _, raw = token_issue(user=UserFactory(username="ann"))
    assert me_of(post_me(Client(), HTTP_AUTHORIZATION=f"Bearer {raw}")) == "ann"


def test_bearer_scheme_is_case_insensitive():
    _, raw = token_issue(user=UserFactory(username="ann"))
    assert me_of(post_me(Client(), HTTP_AUTHORIZATION=f"bearer {raw}")) == "ann"


def test_revoked_token_is_refused_not_anonymous():
    token, raw = token_issue(user=UserFactory(username="ann"))
    token_revoke(token=token)
    assert refused(post_me(Client(), HTTP_AUTHORIZATION=f"Bearer {raw}"))


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Token abc", "Basic YTpi", "cv_abc", ""])
def test_malformed_authorization_header_makes_the_request_anonymous(header):
    assert me_of(post_me(Client(), HTTP_AUTHORIZATION=header)) is None


def test_authorization_header_replaces_the_session_user():
    client = Client()
    client.force_login(UserFactory(username="ann"))
    assert me_of(post_me(client)) == "ann"
    assert refused(post_me(client, HTTP_AUTHORIZATION="Bearer cv_unknown"))
    assert me_of(post_me(client, HTTP_AUTHORIZATION="Basic YTpi")) is None


def test_bearer_request_needs_no_csrf_token():
    _, raw = token_issue(user=UserFactory(username="ann"))
    client = Client(enforce_csrf_checks=True)
    assert me_of(post_me(client, HTTP_AUTHORIZATION=f"Bearer {raw}")) == "ann"


def test_cookie_authenticated_post_without_csrf_token_is_refused():
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(username="ann"))
    assert post_me(client).status_code == 403


def test_cookie_authenticated_post_with_csrf_token_is_accepted():
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(username="ann"))
    client.get("/sign-in/")
    csrf = client.cookies["csrftoken"].value
    assert me_of(post_me(client, HTTP_X_CSRFTOKEN=csrf)) == "ann"
