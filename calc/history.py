"""Past results of a decision: pages of completed calculations, and the one in force at a time.

Each completed calculation keeps its result (``Calculation.results``), so history needs no
snapshot: a page is one query, whatever its size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from calc.models import Calculation, CalculationStatus

if TYPE_CHECKING:
    from datetime import datetime

# What a history entry shows: the result, and when and why it was calculated.
ENTRY_FIELDS = ("id", "decision_id", "trigger", "finished_at", "is_final", "results")


def calculations_completed_page(
    decision_id: int, *, before: int | None, limit: int
) -> tuple[list[Calculation], bool]:
    """Return up to ``limit`` completed calculations, newest first, older than ``before``.

    Also whether older ones remain. ``before`` is a calculation id (the last one of the
    previous page), so pages stay put while new calculations arrive.
    """
    completed = Calculation.objects.filter(
        decision_id=decision_id, status=CalculationStatus.COMPLETED
    ).only(*ENTRY_FIELDS)
    if before is not None:
        completed = completed.filter(pk__lt=before)
    rows = list(completed.order_by("-pk")[: limit + 1])
    return rows[:limit], len(rows) > limit


def calculations_completed_count(decision_id: int) -> int:
    return Calculation.objects.filter(
        decision_id=decision_id, status=CalculationStatus.COMPLETED
    ).count()


def calculation_in_force(decision_id: int, at: datetime) -> Calculation | None:
    """Return the calculation whose result was current at ``at``, or None before the first.

    The same rule as the current result, among those finished by then: the final one, else
    the newest.
    """
    return (
        Calculation.objects.filter(
            decision_id=decision_id, status=CalculationStatus.COMPLETED, finished_at__lte=at
        )
        .order_by("-is_final", "-pk")
        .first()
    )
