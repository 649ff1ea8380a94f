"""What ``prune_calculations`` deletes: old calculations, and the change log behind results."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F, OuterRef, QuerySet, Subquery

from calc.models import Calculation, CalculationStatus, Change
from calc.snapshot import snapshots_detach


def calculations_old(before: datetime) -> QuerySet[Calculation]:
    """Non-final calculations requested before ``before``, but each decision's latest result."""
    latest_completed = (
        Calculation.objects.filter(
            decision_id=OuterRef("decision_id"), status=CalculationStatus.COMPLETED
        )
        .order_by("-id")
        .values("id")[:1]
    )
    return Calculation.objects.filter(
        is_final=False,
        requested_at__lt=before,
        status__in=[
            CalculationStatus.COMPLETED,
            CalculationStatus.FAILED,
            CalculationStatus.ABSORBED,
        ],
    ).exclude(pk=Subquery(latest_completed))


def changes_old(before: datetime) -> QuerySet[Change]:
    """Changes logged before ``before`` that the decision's latest result already counts.

    The worker keeping that result's state reads on from its generation; any other state
    is older, finds a generation missing and reads the decision whole.
    """
    return Change.objects.filter(
        created_at__lt=before, generation__lte=F("decision__calc_completed_gen")
    )


def pruned(before: datetime) -> tuple[int, int]:
    """Delete what ``calculations_old`` and ``changes_old`` select; return how many of each.

    A kept snapshot stored as changes to a deleted calculation's is stored whole first.
    """
    with transaction.atomic():
        doomed = list(calculations_old(before).values_list("pk", flat=True))
        snapshots_detach(doomed)
        Calculation.objects.filter(pk__in=doomed).delete()
        changes, _ = changes_old(before).delete()
    return len(doomed), changes
