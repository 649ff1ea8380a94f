"""Durations in log lines read at a glance."""

from __future__ import annotations

import pytest

from core.logs import duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0004, "0.4 ms"),
        (0.0093, "9.3 ms"),
        (0.085, "85 ms"),
        (0.9994, "999 ms"),
        (1.237, "1.24 s"),
    ],
)
def test_duration_picks_the_unit_an_operator_reads(seconds, text) -> None:
    assert duration(seconds) == text
