"""Tag normalisation: lower-case, trimmed, spaces to '-', 1 to 40 of ``a-z 0-9 - _``.

A ballot or a following has at most ``MAX_TAGS`` tags: they enter every snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.errors import DomainError
from democracy import errors
from democracy.errors import DemocracyErrorCode

TAG_PATTERN = re.compile(r"[a-z0-9_-]{1,40}")
SPACES = re.compile(r"\s+")
MAX_TAGS = 20


def normalize_tag(raw: str, *, field: str = "tags") -> str:
    """Return ``raw`` as a tag, or raise ``INVALID_TAG``; input is never silently dropped."""
    tag = SPACES.sub("-", raw.strip().lower()) if isinstance(raw, str) else ""
    if not TAG_PATTERN.fullmatch(tag):
        shown = raw[:60] + "…" if isinstance(raw, str) and len(raw) > 60 else raw
        raise DomainError(
            DemocracyErrorCode.INVALID_TAG, errors.INVALID_TAG.format(tag=shown), field=field
        )
    return tag


def normalize_tags(raw_tags: Iterable[str], *, field: str = "tags") -> list[str]:
    """Return the normalised tags, sorted and without repeats; at most ``MAX_TAGS`` given."""
    raw_tags = list(raw_tags)
    if len(raw_tags) > MAX_TAGS:
        message = errors.TOO_MANY_TAGS.format(limit=MAX_TAGS)
        raise DomainError(DemocracyErrorCode.TOO_MANY_TAGS, message, field=field)
    return sorted({normalize_tag(raw, field=field) for raw in raw_tags})
