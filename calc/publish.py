"""The published form of a completed calculation: its frozen input and result, to recount.

Anyone who may see a decision's results may download it and recount it with
``crowdvote_verify``. Member ids of the stored input (membership keys) are replaced by
per-calculation keys ``m1``, ``m2``, … given in the order of the ids they replace, with
equal width: sorted as strings they keep the engine's order, so every ordering the engine
derives from member ids (its explanation order; the tally uses none) stays the same, and the
recount gives the stored result byte for byte. Choice ids are kept: the tie lot hashes them
with the stored content hash. Members are named only as the API names them to the same
viewers (``display_name``: a pseudonym for an anonymous member), never by username otherwise.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from threading import Lock
from typing import TYPE_CHECKING, Any

from calc import results
from calc.engine import decision_to_json
from calc.models import Calculation, CalculationStatus
from calc.result_json import ballots_to_json
from democracy.models import Membership
from democracy.pseudonyms import display_name, pseudonym

if TYPE_CHECKING:
    from collections.abc import Iterable

FORMAT = "crowdvote-snapshot/1"
ABOUT = (
    "A CrowdVote result with the frozen input it was calculated from. Recount it with "
    "`python -m crowdvote_verify FILE` (see docs/verifying-results.md)."
)
PUBLISHED_HASH_OF = (
    "SHA-256 of the canonical JSON of `input` as in this file (docs/voting-rules.md, section 6)"
)
CONTENT_HASH_OF = (
    "SHA-256 of the canonical input as stored, whose member keys are membership ids; it seeds "
    "the tie lot and is `result.contentHash`"
)
HASH_CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class PublishedInput:
    """The stored input with member keys replaced: its canonical text, hash and the keys."""

    keys: dict[str, str]
    text: str
    published_hash: str


def member_keys(member_ids: Iterable[str]) -> dict[str, str]:
    """Return each member id's published key: ``m`` and its rank in string order, padded."""
    ordered = sorted(member_ids)
    width = len(str(len(ordered)))
    return {member: f"m{rank:0{width}d}" for rank, member in enumerate(ordered, start=1)}


def published_input(calculation: Calculation) -> PublishedInput:
    """Return the published input of a completed calculation."""
    frozen = results.resolution_of(calculation).frozen
    keys = member_keys(frozen.member_ids)
    rekeyed = replace(frozen, member_ids=tuple(keys[m] for m in frozen.member_ids))
    text = decision_to_json(rekeyed)
    digest = hashlib.sha256(text.encode("ascii")).hexdigest()
    _remember(calculation.content_hash, digest)
    return PublishedInput(keys, text, digest)


_hashes: dict[str, str] = {}
_hashes_lock = Lock()


def _remember(content_hash: str, digest: str) -> None:
    with _hashes_lock:
        if len(_hashes) >= HASH_CACHE_SIZE:
            _hashes.pop(next(iter(_hashes)))
        _hashes[content_hash] = digest


def published_hash(calculation: Calculation) -> str | None:
    """Return the published hash of a completed calculation, None for any other.

    It follows from the stored input alone, so it is kept by content hash once computed.
    """
    if calculation.status != CalculationStatus.COMPLETED or not calculation.content_hash:
        return None
    with _hashes_lock:
        known = _hashes.get(calculation.content_hash)
    if known:
        return known
    try:
        return published_input(calculation).published_hash
    except ValueError:  # No stored snapshot (removed by hand): nothing to publish.
        return None


def _names(keys: dict[str, str]) -> list[dict[str, str]]:
    """Return each key with the member's shown name; one who has left is shown by pseudonym."""
    found = {
        str(m.pk): m
        for m in Membership.objects.filter(pk__in=[int(i) for i in keys]).select_related("user")
    }
    return [
        {"key": key, "name": display_name(found[m]) if m in found else pseudonym(int(m))}
        for m, key in sorted(keys.items(), key=lambda item: item[1])
    ]


def _rekeyed_result(result: dict[str, Any], keys: dict[str, str]) -> dict[str, Any]:
    """Return the stored result with members (in ``influence``) under their published keys.

    Keys keep the ids' text order, so influence ties stay in the order the engine gave them.
    """
    influence = result.get("influence")
    if not isinstance(influence, list):
        return result
    return {**result, "influence": [[keys[str(m)], v] for m, v in influence]}


def snapshot_document(calculation: Calculation, *, decision_id: str, calculation_id: str) -> bytes:
    """Return the published snapshot of a completed calculation as UTF-8 JSON.

    ``decision_id`` and ``calculation_id`` are the API's IDs, written into the file.
    """
    published = published_input(calculation)
    keys = published.keys
    resolved = results.resolution_of(calculation).resolved
    ballots = ballots_to_json(resolved)
    for ballot in ballots:
        ballot["member"] = keys[str(ballot["member"])]
    decision = calculation.decision
    assert calculation.finished_at is not None
    doc = {
        "format": FORMAT,
        "about": ABOUT,
        "decision": {"id": decision_id, "title": decision.title},
        "calculation": {
            "id": calculation_id,
            "isFinal": calculation.is_final,
            "finishedAt": calculation.finished_at.isoformat(),
        },
        "hashes": {
            "publishedHash": published.published_hash,
            "publishedHashOf": PUBLISHED_HASH_OF,
            "contentHash": calculation.content_hash,
            "contentHashOf": CONTENT_HASH_OF,
        },
        "choices": [{"id": str(c.pk), "title": c.title} for c in decision.choices.all()],
        "members": _names(keys),
        "result": _rekeyed_result(calculation.results or {}, keys),
        "ballots": sorted(ballots, key=lambda b: str(b["member"])),
        "input": json.loads(published.text),
    }
    return json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8")
