"""Tag normalisation: lower-case, trimmed, spaces to '-', 1 to 40 of ``a-z 0-9 - _``."""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.errors import DomainError
from democracy import errors
from democracy.errors import DemocracyErrorCode

TAG_PATTERN = re.compile(r"[a-z0-9_-]{1,40}")
SPACES = re.compile(r"\s+")


def normalize_tag(raw: str, *, field: str = "tags") -> str:
    """Return ``raw`` as a tag, or raise ``INVALID_TAG``; input is never silently dropped."""
    tag = SPACES.sub("-", raw.strip().lower()) if isinstance(raw, str) else ""
    if not TAG_PATTERN.fullmatch(tag):
        raise DomainError(
            DemocracyErrorCode.INVALID_TAG, errors.INVALID_TAG.format(tag=raw), field=field
        )
    return tag


def normalize_tags(raw_tags: Iterable[str], *, field: str = "tags") -> list[str]:
    """Return the normalised tags, sorted and without repeats."""
    return sorted({normalize_tag(raw, field=field) for raw in raw_tags})
