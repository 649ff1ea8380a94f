"""Log lines: durations read at a glance, and one event is always one line."""

from __future__ import annotations

import logging

import pytest

from core.logs import EventFormatter, duration, one_line


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


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Bob\n[2025-01-01 00:00:00] [INFO] [SIGN_IN] [admin] - forged", "Bob\\n[2025-01-01"),
        ("Eve\r\x1b[2Kadmin", "Eve\\r\\x1b[2Kadmin"),
        ("txt\u202egnp.exe", "txt\\u202egnp.exe"),
        ("nul\x00here\u2028sep", "nul\\x00here\\u2028sep"),
    ],
)
def test_control_characters_in_names_cannot_forge_or_hide_log_lines(name, shown) -> None:
    record = logging.LogRecord(
        "crowdvote.events", logging.INFO, __file__, 1, f"'{name}'", None, None
    )
    record.event, record.actor = "COMMUNITY_CREATED", name
    line = EventFormatter(datefmt="%Y-%m-%d %H:%M:%S").format(record)
    assert len(line.splitlines()) == 1
    assert line.isprintable()
    assert f"[{shown}" in line or shown in line


def test_printable_text_of_any_script_is_logged_as_it_is() -> None:
    assert one_line("Zoë's café — 投票 ✓") == "Zoë's café — 投票 ✓"
