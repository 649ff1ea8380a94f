"""Shared fixtures (a GraphQL client that signs in with a bearer token) and the markers.

Every test under ``tests/e2e/`` is marked ``e2e`` and every test that drives the browser
(the ``page`` fixture) ``browser``, so ``pytest -m "not e2e"`` leaves out whatever starts
servers, whether or not its module remembered to say so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import User
from accounts.services.tokens import token_issue
from calc.kept import kept_states
from tests.factories import UserFactory

try:
    settings.SECRET_KEY  # noqa: B018
except ImproperlyConfigured:
    # The suite runs with DEBUG off, like production, where no key is generated.
    settings.SECRET_KEY = "tests-only-secret-key-not-for-production-0123456789abcdef"

E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.e2e)
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


def _reaches(logger: logging.Logger, handler: logging.Handler) -> bool:
    current: logging.Logger | None = logger
    while current is not None:
        if handler in current.handlers:
            return True
        current = current.parent if current.propagate else None
    return False


@contextmanager
def logged_to(handler: logging.Handler, *loggers: logging.Logger) -> Iterator[None]:
    """Send the records of ``loggers`` to ``handler`` too (caplog's, say) where they would
    not reach it: the ``crowdvote`` event logger does not propagate to the root."""
    added = [logger for logger in loggers if not _reaches(logger, handler)]
    for logger in added:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in added:
            logger.removeHandler(handler)


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


@pytest.fixture(autouse=True)
def _no_kept_states() -> Iterator[None]:
    """Each test starts with a worker that kept nothing (as after a restart)."""
    kept_states.clear()
    kept_states.channel = ""
    yield
    kept_states.clear()
    kept_states.channel = ""


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> Iterator[None]:
    """Users sign in by magic link; the admin tests' superusers still hash a password, and
    the production hasher's 1,000,000 rounds cost a second each on a busy machine."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture
def graphql_as(db: None) -> Callable[[User | None], GraphQLClient]:
    """Return a factory of GraphQL clients signed in as the given user."""
    return GraphQLClient


@pytest.fixture
def user(db: None) -> User:
    return UserFactory(username="alice")


@pytest.fixture
def admin_client(db: None) -> Client:
    """A browser signed in to the admin as the superuser ``root``."""
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.org", "pw"))
    return client


def admin_url(model: type[Model], view: str, *args: object) -> str:
    """Return the URL of the admin's ``view`` (changelist, change, add, ...) of ``model``."""
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)
