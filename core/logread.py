"""Read the event log back, newest first, within a byte budget.

The admin's event log page reads the files :mod:`core.logs` writes: ``crowdvote.log`` from
its end, then the rotated ``crowdvote.log.YYYY-MM-DD`` files, newest first. It stops after
``max_bytes``, so a page costs the same however large the log has grown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

LOG_NAME = "crowdvote.log"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
BLOCK_SIZE = 64 * 1024

_LINE = re.compile(
    r"\[(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] \[(?P<level>[A-Z]+)\] "
    r"\[(?P<event>[^\]]+)\] \[(?P<actor>[^\]]*)\] - (?P<message>.*)"
)
_ROTATED = re.compile(re.escape(LOG_NAME) + r"\.\d{4}-\d\d-\d\d")


@dataclass(frozen=True)
class LogEntry:
    time: str
    level: str
    event: str
    actor: str
    message: str


def parse_line(line: str) -> LogEntry | None:
    """Return the event of one log line, or None for anything else (a traceback, a torn line)."""
    match = _LINE.fullmatch(line.rstrip("\r"))
    if match is None or match["level"] not in LEVELS:
        return None
    return LogEntry(**match.groupdict())


@dataclass(frozen=True)
class EventQuery:
    """What the operator asked for; empty fields match everything."""

    min_level: str = ""
    event: str = ""
    text: str = ""

    def matches(self, entry: LogEntry) -> bool:
        if self.min_level and LEVELS.index(entry.level) < LEVELS.index(self.min_level):
            return False
        if self.event and entry.event != self.event:
            return False
        needle = self.text.casefold()
        return not needle or any(
            needle in field.casefold() for field in (entry.event, entry.actor, entry.message)
        )


def log_files(directory: Path) -> list[Path]:
    """Return the current log file and the rotated ones, newest first."""
    rotated = sorted(
        (path for path in directory.glob(f"{LOG_NAME}.*") if _ROTATED.fullmatch(path.name)),
        key=lambda path: path.name,
        reverse=True,
    )
    current = directory / LOG_NAME
    return [current, *rotated] if current.is_file() else rotated


class LogScan:
    """The entries of a log directory, newest first, reading at most ``max_bytes``.

    After iterating, ``skipped`` counts the lines that were not events, ``bytes_read`` what
    was read, and ``exhausted`` says older lines exist that were not read.
    """

    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.skipped = 0
        self.bytes_read = 0
        self.exhausted = False

    def __iter__(self) -> Iterator[LogEntry]:
        for path in log_files(self.directory):
            if self.bytes_read >= self.max_bytes:
                self.exhausted = True
                return
            try:
                file = path.open("rb")
            except OSError:  # rotated away or deleted since it was listed
                continue
            with file:
                for raw in self._lines_from_end(file):
                    entry = parse_line(raw.decode("utf-8", errors="replace"))
                    if entry is None:
                        self.skipped += bool(raw.strip())
                    else:
                        yield entry

    def _lines_from_end(self, file: BinaryIO) -> Iterator[bytes]:
        """Yield the lines of ``file``, last first, reading blocks backwards from its end."""
        position = file.seek(0, 2)  # lines appended from here on belong to the next read
        stop = max(0, position - (self.max_bytes - self.bytes_read))
        carry: list[bytes] = []  # the end of a line whose start lies in an earlier block
        while position > stop:
            start = max(stop, position - BLOCK_SIZE)
            file.seek(start)
            block = file.read(position - start)
            self.bytes_read += len(block)
            position = start
            pieces = block.split(b"\n")
            if len(pieces) > 1:
                yield b"".join([pieces[-1], *reversed(carry)])
                yield from reversed(pieces[1:-1])
                carry = []
            carry.append(pieces[0])
        if position == 0:
            yield b"".join(reversed(carry))
        else:  # the budget ran out mid-line: that torn line and everything older stay unread
            self.exhausted = True


def events_page(
    scan: LogScan, query: EventQuery, *, offset: int, limit: int
) -> tuple[list[LogEntry], bool]:
    """Return the matching entries ``offset`` to ``offset + limit``, and whether more follow."""
    page: list[LogEntry] = []
    seen = 0
    for entry in scan:
        if not query.matches(entry):
            continue
        if seen >= offset + limit:
            return page, True
        if seen >= offset:
            page.append(entry)
        seen += 1
    return page, False
