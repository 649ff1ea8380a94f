"""One-line event logs: ``[2025-09-15 14:30:25] [INFO] [VOTE_CAST] [alice] - Vote cast``.

Services and the worker log through :func:`log_event`; the format and the daily rotation
(kept ``LOG_RETENTION_DAYS``, 30 by default) are set up here and in ``settings.LOGGING``.
"""

from __future__ import annotations

import logging
import os
import re
from enum import StrEnum
from logging.handlers import TimedRotatingFileHandler
from pathlib import Path

EVENT_LOGGER = logging.getLogger("crowdvote.events")
# API tokens (cv_…) and magic-link codes (cvl_…) are a prefix and 43 URL-safe characters. A
# careless client can put one where an error message echoes it (unquoted, in a list): the
# line would hand a live credential to whoever reads the logs.
SECRET = re.compile(r"(cvl?_)[A-Za-z0-9_-]{16,}")


class Event(StrEnum):
    COMMUNITY_CREATED = "COMMUNITY_CREATED"
    COMMUNITY_UPDATED = "COMMUNITY_UPDATED"
    MEMBER_JOINED = "MEMBER_JOINED"
    MEMBER_APPLIED = "MEMBER_APPLIED"
    MEMBER_APPROVED = "MEMBER_APPROVED"
    MEMBER_LEFT = "MEMBER_LEFT"
    MEMBERSHIP_CHANGED = "MEMBERSHIP_CHANGED"
    FOLLOW = "FOLLOW"
    UNFOLLOW = "UNFOLLOW"
    DECISION_CREATED = "DECISION_CREATED"
    DECISION_UPDATED = "DECISION_UPDATED"
    DECISION_PUBLISHED = "DECISION_PUBLISHED"
    DECISION_CLOSED = "DECISION_CLOSED"
    VOTE_CAST = "VOTE_CAST"
    VOTE_RETRACTED = "VOTE_RETRACTED"
    MAGIC_LINK_REQUESTED = "MAGIC_LINK_REQUESTED"
    SIGN_IN = "SIGN_IN"
    SIGN_IN_FAILED = "SIGN_IN_FAILED"
    SIGN_OUT = "SIGN_OUT"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    TOKEN_ISSUED = "TOKEN_ISSUED"
    CALC_QUEUED = "CALC_QUEUED"
    SNAPSHOT_CREATED = "SNAPSHOT_CREATED"
    STAGING_START = "STAGING_START"
    STAGING_COMPLETE = "STAGING_COMPLETE"
    TALLY_START = "TALLY_START"
    TALLY_COMPLETE = "TALLY_COMPLETE"
    CALC_FAILED = "CALC_FAILED"
    REQUEST_REFUSED = "REQUEST_REFUSED"


def duration(seconds: float) -> str:
    """Return a duration as an operator reads it: "0.4 ms", "85 ms", "1.24 s"."""
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def log_event(event: Event, actor: str, message: str, *, level: int = logging.INFO) -> None:
    """Log one event line; ``actor`` is a username or a pseudonym, never an anonymous name."""
    EVENT_LOGGER.log(level, message, extra={"event": event.value, "actor": actor or "-"})


def one_line(text: str) -> str:
    """Return ``text`` with every control and format character escaped, e.g. ``\\n``, ``\\x1b``.

    Names and titles are user input: a newline, an ANSI escape or a bidi override in them
    would forge or hide log lines. Printable text of any script stays as it is.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def without_secrets(text: str) -> str:
    """Return ``text`` with everything shaped like a token or a sign-in code masked."""
    return SECRET.sub(r"\1…", text)


def _escaped(char: str) -> str:
    if char in "\n\r\t":
        return repr(char)[1:-1]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


class EventFormatter(logging.Formatter):
    """Format records as ``[time] [LEVEL] [EVENT] [actor] - message``: one event, one line.

    Every handler in ``settings.LOGGING`` formats with it, so secrets are masked here once.
    """

    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event", record.name)
        actor = getattr(record, "actor", "-")
        line = (
            f"[{self.formatTime(record, self.datefmt)}] [{record.levelname}] "
            f"[{one_line(str(event))}] [{one_line(str(actor))}] - {one_line(record.getMessage())}"
        )
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return without_secrets(line)


def daily_file_handler(directory: str) -> logging.Handler:
    """Return a handler writing ``crowdvote.log`` in ``directory``, rotated at midnight."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    retention = int(os.environ.get("LOG_RETENTION_DAYS", "30"))
    return TimedRotatingFileHandler(
        path / "crowdvote.log", when="midnight", backupCount=retention, utc=True, encoding="utf-8"
    )
