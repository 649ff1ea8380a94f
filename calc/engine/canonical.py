"""The canonical JSON of an input kept in chunks, so that a changed ballot rehashes from its
chunk on instead of writing the whole text again.

SHA-256 reads its input in order, so the hash state before every chunk is kept: a change
re-encodes the chunks it touches and feeds the hash from the first of them to the end. The
bytes are exactly ``decision_to_json``'s (``jsonio.py``), so the digest is ``content_hash``.
"""

from __future__ import annotations

import hashlib
from json.encoder import encode_basestring_ascii as enc
from typing import TYPE_CHECKING

from calc.engine.types import Role

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np
    import numpy.typing as npt

    from calc.engine.columns import DecisionColumns

    IntArray = npt.NDArray[np.int64]

# Items (ballots, followings, members) per chunk: small enough that re-encoding one is cheap,
# large enough that the chunks' bookkeeping is not.
CHUNK = 1024
_VOTER = f',"role":"{Role.VOTER.value}"}}'
_LOBBYIST = f',"role":"{Role.LOBBYIST.value}"}}'


def _tags_text(tags: frozenset[str]) -> str:
    return "[" + ",".join(map(enc, sorted(tags))) + "]"


class CanonicalText:
    """The canonical JSON of sorted ``columns`` (members, choices, followings and ballots in
    id order, as ``index_columns`` leaves them) as chunks of bytes, and its SHA-256.
    """

    __slots__ = ("_ballot_chunks", "_chunk", "_segments", "_states", "digest")

    def __init__(self, columns: DecisionColumns, *, chunk: int | None = None) -> None:
        size = CHUNK if chunk is None else chunk
        self._chunk = size
        ids = list(map(enc, columns.member_ids))
        choice_keys = list(map(enc, columns.choices))
        ballots = _BallotWriter(columns)
        n_ballots = columns.ballot_member.size
        segments = [b'{"ballots":[']
        segments += [
            _joined(ballots(columns, s, min(s + size, n_ballots)), s)
            for s in range(0, n_ballots, size)
        ]
        self._ballot_chunks = len(segments) - 1
        segments.append(f'],"choices":[{",".join(choice_keys)}],"followings":['.encode("ascii"))
        follow_tags = list(map(_tags_text, columns.follow_tag_sets))
        src, dst = columns.follow_src.tolist(), columns.follow_dst.tolist()
        order, code = columns.follow_order.tolist(), columns.follow_tag_code.tolist()
        for s in range(0, len(src), size):
            stop = min(s + size, len(src))
            text = ",".join(
                [
                    f'{{"followee":{ids[d]},"follower":{ids[f]},"order":{o},"tags":{follow_tags[t]}}}'
                    for f, d, o, t in zip(
                        src[s:stop], dst[s:stop], order[s:stop], code[s:stop], strict=True
                    )
                ]
            )
            segments.append(_joined(text, s))
        segments.append(b'],"members":[')
        voter = columns.is_voter.tolist()
        for s in range(0, len(ids), size):
            stop = min(s + size, len(ids))
            text = ",".join(
                [
                    '{"id":' + i + (_VOTER if v else _LOBBYIST)
                    for i, v in zip(ids[s:stop], voter[s:stop], strict=True)
                ]
            )
            segments.append(_joined(text, s))
        segments.append(f'],"tieBreakPolicy":{enc(columns.tie_break_policy.value)}}}'.encode())
        self._segments = segments
        self._states: list[hashlib._Hash] = []
        self.digest = self._hash_from(0, hashlib.sha256())

    def _hash_from(self, first: int, state: hashlib._Hash) -> str:
        del self._states[first:]
        for segment in self._segments[first:]:
            self._states.append(state.copy())
            state.update(segment)
        return state.hexdigest()

    def with_ballots(self, columns: DecisionColumns, changed: Sequence[int]) -> CanonicalText:
        """Return the text of ``columns``, which differ from this one's only in the stars of
        the ballots at positions ``changed`` (same members, same tags).
        """
        new = object.__new__(CanonicalText)
        new._chunk, new._ballot_chunks = self._chunk, self._ballot_chunks
        new._segments = list(self._segments)
        new._states = list(self._states)
        chunks = sorted({i // self._chunk for i in changed})
        if not chunks:
            new.digest = self.digest
            return new
        ballots = _BallotWriter(columns)
        n_ballots = columns.ballot_member.size
        for c in chunks:
            start = c * self._chunk
            text = ballots(columns, start, min(start + self._chunk, n_ballots))
            new._segments[1 + c] = _joined(text, start)
        first = 1 + chunks[0]
        new.digest = new._hash_from(first, new._states[first].copy())
        return new


def _joined(text: str, start: int) -> bytes:
    """Return a chunk's items as bytes, after a comma unless it is its list's first."""
    return (text if start == 0 else "," + text).encode("ascii")


class _BallotWriter:
    """Writes ballots ``start:stop`` of sorted columns as canonical JSON items."""

    def __init__(self, columns: DecisionColumns) -> None:
        choice_keys = list(map(enc, columns.choices))
        self.template = (
            '{"member":%s,"stars":{'
            + ",".join(k.replace("%", "%%") + ":%d" for k in choice_keys)
            + '},"tags":%s}'
        )
        self.tags = list(map(_tags_text, columns.ballot_tag_sets))

    def __call__(self, columns: DecisionColumns, start: int, stop: int) -> str:
        ids = columns.member_ids
        rows = columns.ballot_member[start:stop].tolist()
        stars = columns.ballot_stars[start:stop].tolist()
        codes = columns.ballot_tag_code[start:stop].tolist()
        template, tags = self.template, self.tags
        return ",".join(
            [
                template % (enc(ids[m]), *row, tags[t])
                for m, row, t in zip(rows, stars, codes, strict=True)
            ]
        )
