"""Helpers for sign-in tests: captured log lines and the token inside a sign-in email."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from django.core.mail import EmailMessage

from tests.conftest import logged_to

EVENT_LOGGER = logging.getLogger("crowdvote")
LINK_TOKEN = re.compile(r"/sign-in/\?token=(\S+)")


class CapturedLogs:
    """Every record logged during a test, from any logger, and their formatted lines."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler

    @property
    def records(self) -> list[logging.LogRecord]:
        return list(self.handler.records)  # type: ignore[attr-defined]

    def events(self, event: str) -> list[logging.LogRecord]:
        return [r for r in self.records if getattr(r, "event", None) == event]

    def lines(self) -> list[str]:
        """Return each record as the configured console handler would write it."""
        formatter = EVENT_LOGGER.handlers[0].formatter
        assert formatter is not None
        return [formatter.format(record) for record in self.records]

    def assert_never_contains(self, *secrets: str) -> None:
        for line in self.lines():
            for secret in secrets:
                assert secret not in line, line


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[CapturedLogs]:
    """Capture all records, including ``crowdvote`` ones, which do not propagate."""
    caplog.set_level(logging.DEBUG)
    with logged_to(caplog.handler, EVENT_LOGGER):
        yield CapturedLogs(caplog.handler)


def token_from_mail(message: EmailMessage) -> str:
    """Return the sign-in token of the link in a sign-in email."""
    match = LINK_TOKEN.search(str(message.body))
    assert match, message.body
    return match.group(1)
