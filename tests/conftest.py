"""Shared fixtures: a GraphQL client that signs in with a bearer token, and factories."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from accounts.models import User
from accounts.services.tokens import token_issue
from tests.factories import UserFactory

try:
    settings.SECRET_KEY  # noqa: B018
except ImproperlyConfigured:
    # The suite runs with DEBUG off, like production, where no key is generated.
    settings.SECRET_KEY = "tests-only-secret-key-not-for-production-0123456789abcdef"


@dataclass
class GraphQLResponse:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        assert not self.body.get("errors"), self.body.get("errors")
        return self.body["data"]

    @property
    def error_codes(self) -> list[str]:
        return [error.get("extensions", {}).get("code") for error in self.body.get("errors", [])]


class GraphQLClient:
    """Posts GraphQL documents to /graphql as one user (or nobody)."""

    def __init__(self, user: User | None = None) -> None:
        self.client = Client()
        self.user = user
        self.token = token_issue(user=user, name="test")[1] if user else None

    def __call__(self, document: str, **variables: Any) -> GraphQLResponse:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}
        response = self.client.post(
            "/graphql",
            data=json.dumps({"query": document, "variables": variables}),
            content_type="application/json",
            **headers,
        )
        return GraphQLResponse(status=response.status_code, body=response.json())


@pytest.fixture
def graphql_as(db: None) -> Callable[[User | None], GraphQLClient]:
    """Return a factory of GraphQL clients signed in as the given user."""
    return GraphQLClient


@pytest.fixture
def user(db: None) -> User:
    return UserFactory(username="alice")
