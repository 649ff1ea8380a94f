"""Text people type: trimmed, within its length limit, and free of control characters.

Names and titles (one line) also refuse characters that only hide or reorder text: a
zero-width space makes "Park Friends" a second community that reads the same, and a
right-to-left override shows "Park Friends" written backwards. Their runs of spaces become
one, so "Park  Friends" is not another name either.

Limits are checked before any query uses the text, so an oversized value costs nothing.
"""

from __future__ import annotations

import re

from core.errors import DomainError
from democracy import errors
from democracy.errors import DemocracyErrorCode

# Line breaks and tabs belong in descriptions and comments, never in names and titles.
LINE_BREAKS = frozenset("\n\r\t")
# Bidirectional embeddings, overrides, isolates and marks, zero-width spaces and joiners
# that join nothing, the word joiner and invisible operators, the byte-order mark. Joiners
# (U+200C, U+200D) stay: Persian, Indic scripts and emoji sequences need them.
HIDDEN = frozenset(
    "\u061c\u180e\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)
SPACES = re.compile(r"\s+")

COMMUNITY_NAME = 120
COMMUNITY_DESCRIPTION = 5_000
DECISION_TITLE = 200
DECISION_DESCRIPTION = 10_000
CHOICE_TITLE = 200
CHOICE_DESCRIPTION = 2_000
BALLOT_COMMENT = 2_000


def clean_text(value: str, *, what: str, field: str, limit: int, multiline: bool = False) -> str:
    """Return ``value`` trimmed, or raise ``TOO_LONG`` or ``INVALID_CHARACTERS``.

    ``what`` starts the message ("A decision title"); ``field`` names the API argument.
    """
    value = value.strip()
    if len(value) > limit:
        message = errors.TOO_LONG.format(what=what, limit=f"{limit:,}")
        raise DomainError(DemocracyErrorCode.TOO_LONG, message, field=field)
    allowed = LINE_BREAKS if multiline else frozenset()
    if not value.isprintable() and any(_is_control(char) and char not in allowed for char in value):
        message = errors.INVALID_CHARACTERS.format(what=what)
        raise DomainError(DemocracyErrorCode.INVALID_CHARACTERS, message, field=field)
    if multiline:
        return value
    if not value.isprintable() and any(char in HIDDEN for char in value):
        message = errors.HIDDEN_CHARACTERS.format(what=what)
        raise DomainError(DemocracyErrorCode.INVALID_CHARACTERS, message, field=field)
    return SPACES.sub(" ", value)


def _is_control(char: str) -> bool:
    # C0, DEL and C1 controls, NUL among them (PostgreSQL cannot store it in text).
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0
