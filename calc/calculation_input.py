"""A calculation's input: the decision read whole, or as changes to a state a worker kept
(or rebuilt from the last stored snapshot).

Either way the caller gets the generation read, the content hash, a way to store the
snapshot (whole, or as the changes to the kept one) and a way to resolve and tally it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings

from calc.delta_read import delta_read
from calc.engine.incremental import (
    EditedInput,
    IncrementalState,
    apply_edited,
    build_state,
    compact_tags,
    edit_input,
    prepare_input,
)
from calc.kept_restore import kept_restored
from calc.snapshot import snapshot_pack_text, snapshot_read, snapshot_store, snapshot_store_changes

if TYPE_CHECKING:
    from calc.engine import DecisionColumns
    from calc.kept import Kept
    from calc.models import Calculation, StoredSnapshot
    from democracy.models import DecisionStatus


@dataclass(frozen=True, slots=True)
class CalculationInput:
    generation: int
    status: DecisionStatus
    content_hash: str
    columns: DecisionColumns
    store: Callable[[Calculation], StoredSnapshot]
    solve: Callable[[], IncrementalState]
    read_as: str  # for the log


def input_read(decision_id: int, kept: Kept | None) -> CalculationInput:
    """Return the decision's current input: as changes to a state when it can, else whole.

    The state is ``kept``, or with none kept the one rebuilt from the decision's last
    stored snapshot.
    """
    if kept is not None:
        return _changed(decision_id, kept) or _whole(decision_id)
    restored = kept_restored(decision_id)
    changed = _changed(decision_id, restored, restored=True) if restored else None
    return changed or _whole(decision_id)


def _whole(decision_id: int) -> CalculationInput:
    snapshot = snapshot_read(decision_id)
    prepared = prepare_input(snapshot.frozen)
    return CalculationInput(
        generation=snapshot.generation,
        status=snapshot.status,
        content_hash=prepared.content_hash,
        columns=prepared.columns,
        store=partial(snapshot_store, packed=snapshot_pack_text(prepared.columns, prepared.text)),
        solve=partial(build_state, prepared, choice_titles=snapshot.choice_titles),
        read_as="read whole",
    )


def _solved(state: IncrementalState, edited: EditedInput) -> IncrementalState:
    return apply_edited(state, edited)[0]


def _changed(decision_id: int, kept: Kept, *, restored: bool = False) -> CalculationInput | None:
    state = kept.state
    calculated = (kept.snapshot.calculation_id, state.content_hash)
    delta = delta_read(decision_id, state.columns, kept.generation, calculated)
    if delta is None or delta.choice_titles != state.choice_titles:
        return None
    edited = edit_input(state, delta.changes)
    store: Callable[[Calculation], StoredSnapshot]
    if kept.snapshot.depth + 1 >= settings.CALC_SNAPSHOT_CHAIN:
        # A whole one now and then, so rebuilding a snapshot replays a short chain.
        packed = snapshot_pack_text(compact_tags(edited.columns), edited.text)
        store = partial(snapshot_store, packed=packed)
    else:
        store = partial(snapshot_store_changes, previous=kept.snapshot, changes=delta.changes)
    count = len(delta.changes)
    return CalculationInput(
        generation=delta.generation,
        status=delta.status,
        content_hash=edited.content_hash,
        columns=edited.columns,
        store=store,
        solve=partial(_solved, state, edited),
        read_as=f"{count} change{'s' if count != 1 else ''} to generation {kept.generation}"
        + (f" (restored from calculation {kept.snapshot.pk}'s snapshot)" if restored else ""),
    )
