"""The canonical JSON of an input kept in chunks, so that a change rewrites only the chunks
it touches instead of the whole text.

SHA-256 reads its input in order, so the hash state before every chunk is kept: an edit
re-encodes the chunks it touches and feeds the hash from the first of them to the end. The
bytes are exactly ``decision_to_json``'s (``jsonio.py``), so the digest is ``content_hash``.
"""

from __future__ import annotations

import hashlib
from itertools import pairwise
from json.encoder import encode_basestring_ascii as enc
from typing import TYPE_CHECKING, Literal

import numpy as np

from calc.engine.types import Role

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy.typing as npt

    from calc.engine.columns import DecisionColumns

    IntArray = npt.NDArray[np.int64]
    Writer = Callable[[DecisionColumns, int, int], str]

# Items (ballots, followings, members) per chunk: small enough that re-encoding one is cheap,
# large enough that the chunks' bookkeeping is not. Inserts grow a chunk; one grown past
# ``REBUILD_FROM`` times this makes the next edit write the whole text again.
CHUNK = 1024
REBUILD_FROM = 4
_VOTER = f',"role":"{Role.VOTER.value}"}}'
_LOBBYIST = f',"role":"{Role.LOBBYIST.value}"}}'

Section = Literal[0, 1, 2]
BALLOTS: Section = 0
FOLLOWINGS: Section = 1
MEMBERS: Section = 2
Edit = tuple[Section, Literal["set", "insert", "delete"], int]
"""One item of a section replaced, inserted or deleted at an index of its order then."""


def _tags_text(tags: frozenset[str]) -> str:
    return "[" + ",".join(map(enc, sorted(tags))) + "]"


def _ballots(columns: DecisionColumns, start: int, stop: int) -> str:
    choice_keys = list(map(enc, columns.choices))
    template = (
        '{"member":%s,"stars":{'
        + ",".join(k.replace("%", "%%") + ":%d" for k in choice_keys)
        + '},"tags":%s}'
    )
    tags = list(map(_tags_text, columns.ballot_tag_sets))
    ids = columns.member_ids
    rows = columns.ballot_member[start:stop].tolist()
    stars = columns.ballot_stars[start:stop].tolist()
    codes = columns.ballot_tag_code[start:stop].tolist()
    return ",".join(
        [
            template % (enc(ids[m]), *row, tags[t])
            for m, row, t in zip(rows, stars, codes, strict=True)
        ]
    )


def _followings(columns: DecisionColumns, start: int, stop: int) -> str:
    ids = columns.member_ids
    src, dst = columns.follow_src[start:stop].tolist(), columns.follow_dst[start:stop].tolist()
    order = columns.follow_order[start:stop].tolist()
    code = columns.follow_tag_code[start:stop].tolist()
    sets = columns.follow_tag_sets
    tags = {t: _tags_text(sets[t]) for t in set(code)}  # each set written once per chunk
    template = '{"followee":%s,"follower":%s,"order":%d,"tags":%s}'
    return ",".join(
        [
            template % (enc(ids[d]), enc(ids[f]), o, tags[t])
            for f, d, o, t in zip(src, dst, order, code, strict=True)
        ]
    )


def _members(columns: DecisionColumns, start: int, stop: int) -> str:
    ids = columns.member_ids[start:stop]
    voter = columns.is_voter[start:stop].tolist()
    return ",".join(
        ['{"id":' + enc(i) + (_VOTER if v else _LOBBYIST) for i, v in zip(ids, voter, strict=True)]
    )


_WRITERS: tuple[Writer, Writer, Writer] = (_ballots, _followings, _members)


def _sizes(columns: DecisionColumns) -> tuple[int, int, int]:
    return (columns.ballot_member.size, columns.follow_src.size, len(columns.member_ids))


class CanonicalText:
    """The canonical JSON of sorted ``columns`` (members, choices, followings and ballots in
    id order, as ``index_columns`` leaves them) as chunks of bytes, and its SHA-256.

    Segments: the opening, the ballots' chunks, the choices, the followings' chunks, the
    members' chunks, the end. Each section has at least one chunk (maybe empty); ``_starts``
    holds each chunk's first item.
    """

    __slots__ = ("_first", "_segments", "_starts", "_states", "digest")

    def __init__(self, columns: DecisionColumns) -> None:
        size = CHUNK
        sizes = _sizes(columns)
        self._starts = [np.arange(0, max(count, 1), size, dtype=np.int64) for count in sizes]
        choice_keys = ",".join(map(enc, columns.choices))
        separators = (
            b'{"ballots":[',
            f'],"choices":[{choice_keys}],"followings":['.encode("ascii"),
            b'],"members":[',
        )
        segments: list[bytes] = []
        first: list[int] = []
        for section in (BALLOTS, FOLLOWINGS, MEMBERS):
            segments.append(separators[section])
            first.append(len(segments))
            starts, count = self._starts[section], sizes[section]
            bounds = [*starts.tolist(), count]
            segments += [_joined(_WRITERS[section](columns, a, b), a) for a, b in pairwise(bounds)]
        segments.append(f'],"tieBreakPolicy":{enc(columns.tie_break_policy.value)}}}'.encode())
        self._first = first
        self._segments = segments
        self._states: list[hashlib._Hash] = []
        self.digest = self._hash_from(0, hashlib.sha256())

    def _hash_from(self, first: int, state: hashlib._Hash) -> str:
        del self._states[first:]
        for segment in self._segments[first:]:
            self._states.append(state.copy())
            state.update(segment)
        return state.hexdigest()

    def __bytes__(self) -> bytes:
        return b"".join(self._segments)

    def edited(self, columns: DecisionColumns, edits: Sequence[Edit]) -> CanonicalText:
        """Return the text of ``columns``: this one's input after ``edits``, in order (the
        choices and the policy unchanged).
        """
        if not edits:
            return self
        starts = [s.copy() for s in self._starts]
        dirty: set[tuple[Section, int]] = set()
        for section, kind, index in edits:
            at = starts[section]
            # The chunk holding item ``index`` (for an insert: the one it joins).
            chunk = max(int(np.searchsorted(at, index, side="right")) - 1, 0)
            if kind == "insert":
                at[chunk + 1 :] += 1
            elif kind == "delete":
                at[chunk + 1 :] -= 1
            dirty.add((section, chunk))
        sizes = _sizes(columns)
        for part in (BALLOTS, FOLLOWINGS, MEMBERS):
            # A chunk whose items became its section's first (or stopped being) gains or
            # loses its leading comma.
            moved = np.flatnonzero((starts[part] == 0) != (self._starts[part] == 0))
            dirty.update((part, int(c)) for c in moved.tolist())
        new = object.__new__(CanonicalText)
        new._first, new._starts = self._first, starts
        new._segments = list(self._segments)
        new._states = list(self._states)
        for part, chunk in sorted(dirty):
            at = starts[part]
            a = int(at[chunk])
            b = int(at[chunk + 1]) if chunk + 1 < at.size else sizes[part]
            if b - a > REBUILD_FROM * CHUNK:
                return CanonicalText(columns)
            new._segments[self._first[part] + chunk] = _joined(_WRITERS[part](columns, a, b), a)
        first = min(self._first[s] + c for s, c in dirty)
        new.digest = new._hash_from(first, new._states[first].copy())
        return new


def _joined(text: str, start: int) -> bytes:
    """Return a chunk's items as bytes, after a comma unless they start their list."""
    return (text if start == 0 or not text else "," + text).encode("ascii")
