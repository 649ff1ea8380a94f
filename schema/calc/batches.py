"""Ballot pages of a page of results, read together: one query for all, not one per result.

The results of a page of decisions are read by one prefetch query, through
``ReadTogether``: it tells each calculation which others came with it. A field runs once
per decision, depth first, but the same field with the same arguments runs on every one
of them, so the first ``ballots`` page read reads that page of every sibling: their
snapshots in one query and their members in another.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field

from django.db.models import QuerySet

from calc import results
from calc.engine import MemberBallot
from calc.models import Calculation
from democracy.models import Membership, Role

READ_TOGETHER = "read_together"


@dataclass(frozen=True, slots=True)
class BallotsPage:
    start: int
    ballots: list[MemberBallot]
    total: int
    members: dict[str, Membership]


@dataclass(slots=True)
class Siblings:
    calculations: list[Calculation]
    pages: dict[Hashable, dict[int, BallotsPage]] = field(default_factory=dict)


class ReadTogether(QuerySet[Calculation]):
    """A queryset whose calculations each know the others it read (``READ_TOGETHER``)."""

    def _fetch_all(self) -> None:
        super()._fetch_all()
        calculations = list(self._result_cache or [])
        siblings = Siblings(calculations)
        for calculation in calculations:
            setattr(calculation, READ_TOGETHER, siblings)


def members_by_id(wanted: Iterable[tuple[str, int]]) -> dict[str, Membership]:
    """Return memberships by id (with their community's id); one who has left since is
    shown by pseudonym."""
    community_of = {int(pk): community_id for pk, community_id in wanted}
    found = {
        str(m.pk): m
        for m in Membership.objects.filter(pk__in=community_of).select_related("user", "community")
    }
    for pk, community_id in community_of.items():
        if str(pk) not in found:
            found[str(pk)] = Membership(
                pk=pk, community_id=community_id, role=Role.VOTER, is_anonymous=True
            )
    return found


def ballots_page(
    calculation: Calculation, key: Hashable, window: Callable[[Callable[[], int]], tuple[int, int]]
) -> BallotsPage:
    """Return the page ``window`` chooses of the calculation's ballots.

    ``key`` names the arguments the window comes from; ``window`` is given a way to count
    the ballots and returns the page's offsets [start, end).
    """
    siblings: Siblings = getattr(calculation, READ_TOGETHER, None) or Siblings([calculation])
    if key not in siblings.pages:
        siblings.pages[key] = _read_pages(siblings.calculations, window)
    return siblings.pages[key][calculation.pk]


def _counter(resolution: results.Resolution) -> Callable[[], int]:
    return lambda: results.ballots_page_of(resolution, 0, 0)[1]


def _read_pages(
    calculations: list[Calculation], window: Callable[[Callable[[], int]], tuple[int, int]]
) -> dict[int, BallotsPage]:
    resolutions = results.resolutions_of(calculations)
    pages: dict[int, tuple[int, list[MemberBallot], int]] = {}
    for calculation in calculations:
        resolution = resolutions[calculation.pk]
        start, end = window(_counter(resolution))
        ballots, total = results.ballots_page_of(resolution, start, end - start)
        pages[calculation.pk] = (start, ballots, total)
    members = members_by_id(
        (ballot.member, calculation.decision.community_id)
        for calculation in calculations
        for ballot in pages[calculation.pk][1]
    )
    return {
        pk: BallotsPage(start, ballots, total, members)
        for pk, (start, ballots, total) in pages.items()
    }
