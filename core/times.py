"""Times given by a client, checked before anything converts them to UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def representable_in_utc(value: datetime) -> bool:
    """Return whether an aware ``value`` is still a datetime once moved to UTC.

    A well-formed time at the edge of the calendar with an offset
    (``0001-01-01T00:00:00+14:00``, ``9999-12-31T23:59:59-14:00``) falls outside years
    1-9999 in UTC: Python raises ``OverflowError`` when the database layer converts it,
    which would surface as a server fault instead of the client's mistake.
    """
    try:
        value.astimezone(UTC)
    except OverflowError:
        return False
    return True
