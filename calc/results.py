"""Read calculations and their results: latest ones, results, resolved ballots, explanations.

Resolved ballots are not stored: they are recomputed from the stored snapshot, which gives
them back bit for bit, and kept in a small per-process cache keyed by content hash.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from threading import Lock

from django.db.models import F, OrderBy, QuerySet, Window
from django.db.models.functions import RowNumber

from calc.engine import (
    DecisionColumns,
    Explanation,
    InfluenceRanking,
    MemberBallot,
    ResolvedBallots,
    StarResult,
    resolve_ballots,
)
from calc.engine import explain_ballot as engine_explain
from calc.models import Calculation, CalculationStatus
from calc.result_json import result_from_json
from calc.snapshot import snapshot_load, snapshots_load
from democracy.models import Decision, DecisionStatus

CACHE_SIZE = 8
# Each incremental result has stars of its own (80 MB at 1,000,000 members): at most this
# many members' worth are kept, the newest always.
CACHE_MEMBERS = 2_000_000


@dataclass(frozen=True, slots=True)
class Resolution:
    frozen: DecisionColumns
    resolved: ResolvedBallots


class _ResolutionCache:
    """A tiny LRU of resolutions by content hash: pages of ``results.ballots`` reuse one.

    The content hash names the frozen input, and the input decides the resolution.
    """

    def __init__(self, size: int, members: int) -> None:
        self.size = size
        self.members = members
        self.entries: OrderedDict[str, Resolution] = OrderedDict()
        self.lock = Lock()

    def get(self, calculation: Calculation) -> Resolution:
        key = calculation.content_hash
        with self.lock:
            if key and key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
        frozen = snapshot_load(calculation.pk)
        resolution = Resolution(frozen, resolve_ballots(frozen))
        self.put(key, resolution)
        return resolution

    def get_many(self, calculations: Sequence[Calculation]) -> dict[int, Resolution]:
        """Return the resolution of each calculation; missing snapshots are read in one query."""
        found: dict[int, Resolution] = {}
        with self.lock:
            for calculation in calculations:
                key = calculation.content_hash
                if key and key in self.entries:
                    self.entries.move_to_end(key)
                    found[calculation.pk] = self.entries[key]
        missing = [c for c in calculations if c.pk not in found]
        frozen = snapshots_load(c.pk for c in missing)
        for calculation in missing:
            if calculation.pk not in frozen:
                raise ValueError(f"calculation {calculation.pk} has no snapshot yet")
            columns = frozen[calculation.pk]
            found[calculation.pk] = Resolution(columns, resolve_ballots(columns))
            self.put(calculation.content_hash, found[calculation.pk])
        return found

    def put(self, key: str, resolution: Resolution) -> None:
        if not key:
            return
        with self.lock:
            self.entries[key] = resolution
            self.entries.move_to_end(key)
            kept = sum(len(r.resolved.member_ids) for r in self.entries.values())
            while len(self.entries) > 1 and (len(self.entries) > self.size or kept > self.members):
                _, evicted = self.entries.popitem(last=False)
                kept -= len(evicted.resolved.member_ids)


_cache = _ResolutionCache(CACHE_SIZE, CACHE_MEMBERS)


def calculation_latest(decision: Decision) -> Calculation | None:
    """Return the decision's newest calculation, whatever its status.

    An absorbed calculation never ran: the one that absorbed it is newer in all but its ID.
    """
    calculations = Calculation.objects.filter(decision_id=decision.pk)
    return calculations.exclude(status=CalculationStatus.ABSORBED).first()


def calculation_latest_completed(decision_id: int) -> Calculation | None:
    """Return the calculation whose result is current: the final one, else the newest."""
    completed = Calculation.objects.filter(
        decision_id=decision_id, status=CalculationStatus.COMPLETED
    )
    return completed.filter(is_final=True).first() or completed.first()


def calculation_influence(calculation: Calculation) -> InfluenceRanking | None:
    """Return the stored influence of a calculation that came by broadcast (left out there)."""
    stored = Calculation.objects.filter(pk=calculation.pk).values_list("results", flat=True)
    data = stored.first()
    return result_from_json(data).influence if data else None


def calculation_result(calculation: Calculation) -> StarResult:
    """Return the result stored with a completed calculation (or carried by its broadcast)."""
    return result_from_json(calculation.results)


def calculations_latest_of_each() -> QuerySet[Calculation]:
    """Return, for any set of decisions, each one's newest calculation: one query for a page."""
    return _first_of_each(Calculation.objects.all(), F("id").desc())


def calculations_completed_of_each(
    among: QuerySet[Calculation] | None = None,
) -> QuerySet[Calculation]:
    """Return, for any set of decisions, each one's current result (as
    ``calculation_latest_completed`` chooses it): one query for a page.

    ``among`` is the queryset to choose from (its class is kept), all calculations by default.
    """
    calculations = Calculation.objects.all() if among is None else among
    completed = calculations.filter(status=CalculationStatus.COMPLETED)
    return _first_of_each(completed, F("is_final").desc(), F("id").desc())


def _first_of_each(queryset: QuerySet[Calculation], *order: OrderBy) -> QuerySet[Calculation]:
    rank = Window(RowNumber(), partition_by=[F("decision_id")], order_by=list(order))
    return queryset.annotate(rank_in_decision=rank).filter(rank_in_decision=1)


def calculations_queued(
    *, decision_ids: list[int] | None = None, community_id: int | None = None
) -> list[Calculation]:
    """Return the QUEUED calculations a change just asked for, by decision id.

    With ``community_id``: those of the community's open decisions.
    """
    queued = Calculation.objects.filter(status=CalculationStatus.QUEUED)
    if community_id is not None:
        queued = queued.filter(
            decision__community_id=community_id, decision__status=DecisionStatus.OPEN
        )
    if decision_ids is not None:
        queued = queued.filter(decision_id__in=decision_ids)
    return list(queued.order_by("decision_id"))


def resolution_keep(
    calculation: Calculation, frozen: DecisionColumns, resolved: ResolvedBallots
) -> None:
    """Remember what a calculation just resolved.

    With the worker in this process (embedded), reads of its ballots and explanations then
    skip unpacking and resolving the snapshot again (a second at 100,000 members).
    """
    _cache.put(calculation.content_hash, Resolution(frozen, resolved))


def resolution_of(calculation: Calculation) -> Resolution:
    """Return the frozen input and resolved ballots of a completed calculation."""
    return _cache.get(calculation)


def ballot_resolved(calculation: Calculation, membership_id: int) -> MemberBallot | None:
    """Return a member's ballot as the calculation resolved it, or None."""
    resolution = resolution_of(calculation)
    if str(membership_id) not in resolution.resolved.member_index:
        return None
    return resolution.resolved.ballot(str(membership_id))


def resolutions_of(calculations: Sequence[Calculation]) -> dict[int, Resolution]:
    """Return the resolution of several completed calculations (a page of decisions' results)."""
    return _cache.get_many(calculations)


def ballots_page(
    calculation: Calculation, offset: int, limit: int
) -> tuple[list[MemberBallot], int]:
    """Return a page of resolved ballots (in membership order) and how many there are."""
    return ballots_page_of(resolution_of(calculation), offset, limit)


def ballots_page_of(
    resolution: Resolution, offset: int, limit: int
) -> tuple[list[MemberBallot], int]:
    """Return a page of a resolution's ballots (in membership order) and how many there are."""
    resolved = resolution.resolved
    rows = sorted(
        resolved.has_ballot.nonzero()[0].tolist(), key=lambda i: int(resolved.member_ids[i])
    )
    page = []
    for i in rows[offset : offset + limit]:
        ballot = resolved.ballot(resolved.member_ids[i])
        assert ballot is not None
        page.append(ballot)
    return page, len(rows)


def explanation_of(
    calculation: Calculation, membership_id: int, *, max_depth: int | None = None
) -> Explanation | None:
    """Return why a member holds their ballot in this calculation, or None."""
    resolution = resolution_of(calculation)
    if str(membership_id) not in resolution.resolved.member_index:
        return None
    depth = None if max_depth is None else max(max_depth, 0)
    return engine_explain(
        resolution.frozen, resolution.resolved, str(membership_id), max_depth=depth
    )
