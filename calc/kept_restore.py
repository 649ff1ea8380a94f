"""A decision's state rebuilt from its last stored snapshot, for a worker that kept none.

After a restart, an eviction or a move to another worker, replaying the last completed
calculation's snapshot and then the changes logged since costs a fraction of reading the
whole community again (at 1,000,000 members, seconds against half a minute). The database
stays the source of truth: a snapshot whose hash is not its calculation's is not used, and
when the log since it has a gap the caller reads the decision whole anyway.
"""

from __future__ import annotations

import logging

from calc.engine.incremental import build_state, prepare_input
from calc.kept import Kept
from calc.models import CalculationStatus, StoredSnapshot
from calc.snapshot import collector_paused, snapshot_rebuilt
from democracy.models import Choice

logger = logging.getLogger(__name__)


def kept_restored(decision_id: int) -> Kept | None:
    """Return the state of the decision's last completed calculation; None if it has none."""
    stored = (
        StoredSnapshot.objects.select_related("calculation")
        .filter(
            calculation__decision_id=decision_id, calculation__status=CalculationStatus.COMPLETED
        )
        .order_by("-calculation__generation", "-calculation_id")
        .first()
    )
    if stored is None:
        return None
    calculation = stored.calculation
    with collector_paused():
        prepared = prepare_input(snapshot_rebuilt(stored))
        if prepared.content_hash != calculation.content_hash:
            logger.warning(
                "Snapshot of calculation %s does not match its content hash; "
                "decision %s is read whole instead",
                calculation.pk,
                decision_id,
            )
            return None
        titles = Choice.objects.filter(decision_id=decision_id).values_list("id", "title")
        state = build_state(prepared, choice_titles={str(pk): title for pk, title in titles})
    return Kept(state, calculation.generation, stored)
