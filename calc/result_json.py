"""A result's JSON form, ``Calculation.results``: the only place that writes or reads it.

The engine returns typed values (``StarResult``); this module turns one into the JSON
stored with its calculation (and carried by broadcasts) and back, so that
``result_from_json(result_to_json(r)) == r``. Keys are the API's camelCase field names and
stars are 8-place strings, so a stored row reads like the API's answer::

    {"contentHash": "…", "tieBreakPolicy": "LOT", "protocol": "…", "winner": "3",
     "tiedChoices": [], "finalists": ["3", "1"],
     "scores": [{"choice": "1", "totalStars": "7.50000000", "averageStars": "2.50000000",
                 "fiveStarCount": 1}, …],
     "runoff": {"first": "3", "second": "1", "preferFirst": 2, "preferSecond": 1,
                "noPreference": 0},
     "tiebreaks": [], "participation": {"members": 4, "voters": 3, "directBallots": 2,
     "delegatedBallots": 1, "abstentions": 1, "countedBallots": 3},
     "influence": [["7", "2.00000000"], ["9", "1.00000000"]]}

Stored rows keep this form byte for byte: keys in this order, nothing renamed. Only
``influence`` was added since the first rows, last: each direct voter as a compact
``[member, influence]`` pair (a result lists every direct voter, 20,000 of them at 100,000
members), highest first. Rows stored before it have no ``influence`` key and read back
with ``influence`` None ("not available"), never as an empty list. The ranking's entries
are read when used: at a million members there are 200,000 of them.
``ballots_to_json`` writes resolved ballots alike (``bench_calc --output``). Imports no
Django, so the benchmark can use it without it.
"""

from __future__ import annotations

import re
from dataclasses import fields
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from calc.engine import (
    STAR_SCALE,
    ChoiceScore,
    InfluenceRanking,
    Participation,
    Runoff,
    StarResult,
    TieBreakPolicy,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from _typeshed import DataclassInstance

    from calc.engine import ResolvedBallots

JsonObject = dict[str, object]
"""A JSON object as ``json.loads`` gives it (and Django's ``JSONField`` stores it)."""

Counts = TypeVar("Counts", bound="DataclassInstance")


class StoredResultError(ValueError):
    """A stored result does not have the JSON form; the message names the offending key."""


def result_to_json(result: StarResult) -> JsonObject:
    """Return the JSON form of ``result`` (see the module docstring)."""
    return {
        "contentHash": result.content_hash,
        "tieBreakPolicy": result.tie_break_policy.value,
        "protocol": result.protocol,
        "winner": result.winner,
        "tiedChoices": list(result.tied_choices),
        "finalists": list(result.finalists),
        "scores": [
            {
                "choice": s.choice,
                "totalStars": format(s.total_stars, "f"),
                "averageStars": format(s.average_stars, "f"),
                "fiveStarCount": s.five_star_count,
            }
            for s in result.scores
        ],
        "runoff": None if result.runoff is None else _counts_json(result.runoff),
        "tiebreaks": list(result.tiebreaks),
        "participation": _counts_json(result.participation),
        "influence": None if result.influence is None else _influence_json(result.influence),
    }


# The last ranking written and its JSON: an incremental update that changes only stars keeps
# the ranking object, and writing 20,000 entries again cost more than the update itself.
_last_influence: tuple[InfluenceRanking, list[list[str]]] | None = None


def _influence_json(ranking: InfluenceRanking) -> list[list[str]]:
    global _last_influence  # one entry, replaced whole: safe across threads
    last = _last_influence
    if last is not None and last[0] is ranking:
        return [list(entry) for entry in last[1]]
    entries = [
        [m, _influence_text(v)] for m, v in zip(ranking.members, ranking.scaled, strict=True)
    ]
    _last_influence = (ranking, entries)
    return [list(entry) for entry in entries]


def result_from_json(data: object) -> StarResult:
    """Return the result whose JSON form is ``data``; StoredResultError if it is not one."""
    doc = _object(data, "result")
    for key in ("winner", "runoff"):  # may be null, never left out
        if key not in doc:
            raise StoredResultError(f"result.{key}: missing")
    runoff = doc["runoff"]
    return StarResult(
        scores=tuple(_score(s, f"scores[{i}]") for i, s in enumerate(_list(doc, "scores"))),
        finalists=_strings(doc, "finalists"),
        runoff=None if runoff is None else _counts(Runoff, runoff, "runoff"),
        winner=None if doc.get("winner") is None else _string(doc, "winner"),
        tied_choices=_strings(doc, "tiedChoices"),
        tiebreaks=_strings(doc, "tiebreaks"),
        participation=_counts(Participation, doc.get("participation"), "participation"),
        content_hash=_string(doc, "contentHash"),
        tie_break_policy=TieBreakPolicy(_string(doc, "tieBreakPolicy")),
        protocol=_string(doc, "protocol"),
        influence=_influence(doc.get("influence")),
    )


def ballots_to_json(resolved: ResolvedBallots) -> list[JsonObject]:
    """Return every resolved ballot in member id order, stars as 8-place strings."""
    return [
        {
            "member": b.member,
            "isDelegated": b.is_delegated,
            "tags": list(b.tags),
            "stars": {c: format(v, "f") for c, v in b.stars},
        }
        for b in resolved.ballots()
    ]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def _counts_json(value: DataclassInstance) -> JsonObject:
    """Return a dataclass of plain fields (``Runoff``, ``Participation``) with camelCase keys."""
    return {_camel(f.name): getattr(value, f.name) for f in fields(value)}


def _counts(kind: type[Counts], data: object, where: str) -> Counts:
    """Return the ``kind`` whose camelCase JSON is ``data``; fields are ints or strings.

    ``f.type`` is the annotation as written (``"int"``): the engine postpones annotations.
    """
    doc = _object(data, where)
    values: dict[str, object] = {}
    for f in fields(kind):
        key = _camel(f.name)
        value = doc.get(key)
        if type(value).__name__ != f.type:
            raise StoredResultError(f"{where}.{key}: expected {f.type}, got {value!r}")
        values[f.name] = value
    return kind(**values)


def _score(data: object, where: str) -> ChoiceScore:
    doc = _object(data, where)
    total = _decimal(doc, "totalStars", where)
    five = doc.get("fiveStarCount")
    if type(five) is not int:
        raise StoredResultError(f"{where}.fiveStarCount: expected an integer, got {five!r}")
    return ChoiceScore(
        choice=_string(doc, "choice", where),
        total_stars=total,
        average_stars=_decimal(doc, "averageStars", where),
        five_star_count=five,
        total_scaled=int(total * STAR_SCALE),
    )


def _influence_text(scaled: int) -> str:
    whole, frac = divmod(scaled, STAR_SCALE)  # influence is never negative
    return f"{whole}.{frac:08d}"


_INFLUENCE = re.compile(r"(0|[1-9][0-9]*)\.[0-9]{8}")


def _influence(data: object) -> InfluenceRanking | None:
    """Return the ranking, each entry read when used: it is long, readers show a page.

    A malformed entry is reported (StoredResultError) when it is read.
    """
    if data is None:
        return None
    if not isinstance(data, list):
        raise StoredResultError(f"result.influence: expected a list, got {data!r}")
    return InfluenceRanking.lazy(len(data), lambda start, stop: _entries(data, start, stop))


def _entries(data: list[object], start: int, stop: int) -> tuple[tuple[str, ...], tuple[int, ...]]:
    members: list[str] = []
    scaled: list[int] = []
    for i, pair in enumerate(data[start:stop], start):
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise StoredResultError(f"influence[{i}]: expected [member, influence], got {pair!r}")
        text = pair[1]
        if not (isinstance(text, str) and _INFLUENCE.fullmatch(text)):
            raise StoredResultError(f"influence[{i}].influence: expected 8 places, got {text!r}")
        members.append(pair[0])
        scaled.append(int(text.replace(".", "")))
    return tuple(members), tuple(scaled)


def _object(data: object, where: str) -> Mapping[str, object]:
    if not isinstance(data, dict):
        raise StoredResultError(f"{where}: expected an object, got {type(data).__name__}")
    return data


def _list(doc: Mapping[str, object], key: str) -> list[object]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise StoredResultError(f"result.{key}: expected a list, got {value!r}")
    return value


def _string(doc: Mapping[str, object], key: str, where: str = "result") -> str:
    value = doc.get(key)
    if not isinstance(value, str):
        raise StoredResultError(f"{where}.{key}: expected a string, got {value!r}")
    return value


def _strings(doc: Mapping[str, object], key: str) -> tuple[str, ...]:
    values = _list(doc, key)
    if not all(isinstance(v, str) for v in values):
        raise StoredResultError(f"result.{key}: expected a list of strings")
    return tuple(str(v) for v in values)


def _decimal(doc: Mapping[str, object], key: str, where: str) -> Decimal:
    """Return a star string as the Decimal it spells (its exponent kept: output is the same)."""
    text = _string(doc, key, where)
    try:
        value = Decimal(text)
    except ArithmeticError:
        value = Decimal("NaN")
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -8:
        raise StoredResultError(f"{where}.{key}: expected stars to 8 places, got {text!r}")
    return value
