"""CORS on the GraphQL endpoint: front ends on listed origins call it with bearer tokens."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client, override_settings

from accounts.services.tokens import token_issue
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FRONT_END = "http://localhost:5173"
ELSEWHERE = "https://evil.example"
ALLOWED = override_settings(CORS_ALLOWED_ORIGINS=[FRONT_END])


def preflight(origin: str, path: str = "/graphql"):  # type: ignore[no-untyped-def]
    return Client().options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type",
    )


def post_me(origin: str, token: str):  # type: ignore[no-untyped-def]
    return Client().post(
        "/graphql",
        data=json.dumps({"query": "{ me { username } }"}),
        content_type="application/json",
        HTTP_ORIGIN=origin,
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_allowed_origins_default_to_the_websocket_origins() -> None:
    assert settings.CORS_ALLOWED_ORIGINS == settings.WEBSOCKET_ALLOWED_ORIGINS


@ALLOWED
@pytest.mark.parametrize("path", ["/graphql", "/graphql/"])
def test_preflight_from_an_allowed_origin_is_answered(path: str) -> None:
    response = preflight(FRONT_END, path)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == FRONT_END
    assert response["Access-Control-Allow-Methods"] == "GET, OPTIONS, POST"
    allowed_headers = response["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers
    assert "Access-Control-Allow-Credentials" not in response


@ALLOWED
def test_query_with_a_bearer_token_from_an_allowed_origin() -> None:
    raw = token_issue(user=UserFactory(username="ann"))[1]

    response = post_me(FRONT_END, raw)

    assert response.json()["data"] == {"me": {"username": "ann"}}
    assert response["Access-Control-Allow-Origin"] == FRONT_END
    assert "Access-Control-Allow-Credentials" not in response


@ALLOWED
def test_other_origins_get_no_cors_headers() -> None:
    raw = token_issue(user=UserFactory(username="ann"))[1]

    assert "Access-Control-Allow-Origin" not in preflight(ELSEWHERE)
    assert "Access-Control-Allow-Origin" not in post_me(ELSEWHERE, raw)


@ALLOWED
def test_only_the_graphql_endpoint_answers_cross_origin() -> None:
    assert "Access-Control-Allow-Origin" not in preflight(FRONT_END, "/sign-in/")


@override_settings(CORS_ALLOWED_ORIGINS=[FRONT_END], CORS_ALLOW_CREDENTIALS=True)
def test_credentials_are_allowed_only_when_configured() -> None:
    response = preflight(FRONT_END)

    assert response["Access-Control-Allow-Origin"] == FRONT_END
    assert response["Access-Control-Allow-Credentials"] == "true"
