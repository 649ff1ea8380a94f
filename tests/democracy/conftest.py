"""Helpers for democracy service tests: the event log and "nothing changed" checks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from accounts.models import User
from core.errors import DomainError
from core.logs import EVENT_LOGGER
from democracy.models import (
    Ballot,
    BallotStar,
    Choice,
    Community,
    Decision,
    Following,
    Membership,
)
from tests.conftest import logged_to

MODELS = (User, Community, Membership, Following, Decision, Choice, Ballot, BallotStar)


def db_state() -> dict[str, list[dict[str, Any]]]:
    """Return every row of every democracy table (and users), in primary-key order."""
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in MODELS}


@contextmanager
def _unchanged() -> Iterator[None]:
    before = db_state()
    yield
    assert db_state() == before


@pytest.fixture
def unchanged(db: None) -> Callable[[], AbstractContextManager[None]]:
    """Return a context manager asserting the database is exactly as before its block."""
    return _unchanged


def assert_error(raised: pytest.ExceptionInfo[DomainError], code: str, field: str | None) -> None:
    """Assert a caught ``DomainError`` has this code and field."""
    assert raised.value.code == code
    assert raised.value.field == field


class EventLog:
    """The event lines logged on ``crowdvote.events`` during a test."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler

    @property
    def records(self) -> list[logging.LogRecord]:
        return list(self.handler.records)  # type: ignore[attr-defined]

    def of(self, event: str) -> list[logging.LogRecord]:
        """Return the records logged with this event tag."""
        return [record for record in self.records if record.event == event]  # type: ignore[attr-defined]

    def one(self, event: str) -> logging.LogRecord:
        """Return the only record logged with this event tag."""
        found = self.of(event)
        assert len(found) == 1, [(r.event, r.getMessage()) for r in self.records]  # type: ignore[attr-defined]
        return found[0]

    def lines(self) -> list[str]:
        """Return each record as actor and message, for checks on what leaks into logs."""
        return [f"{r.actor} {r.getMessage()}" for r in self.records]  # type: ignore[attr-defined]


@pytest.fixture
def events(caplog: pytest.LogCaptureFixture) -> Iterator[EventLog]:
    """Capture event lines, even though the ``crowdvote`` logger does not propagate."""
    caplog.set_level(logging.INFO, logger=EVENT_LOGGER.name)
    with logged_to(caplog.handler, EVENT_LOGGER):
        yield EventLog(caplog.handler)
