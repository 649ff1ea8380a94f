"""Decisions' incremental states kept by this worker process between calculations.

A state is taken out while a calculation uses it and put back only once that calculation
completed, so a failure anywhere leaves nothing half-applied behind: the next calculation
reads the decision whole. Least recently used states go first once the members kept
exceed ``CALC_KEPT_MEMBERS``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from calc.engine.incremental import IncrementalState
    from calc.models import StoredSnapshot


@dataclass(frozen=True, slots=True)
class Kept:
    """A decision's state at ``generation``; ``snapshot`` stores exactly its input.

    ``took`` is how long the calculation that kept it ran (seconds), and ``overtaken``
    whether changes arrived while it ran: the decision is in a storm of changes.
    """

    state: IncrementalState
    generation: int
    snapshot: StoredSnapshot
    took: float = 0.0
    overtaken: bool = False
    finished: float = field(default_factory=time.monotonic)

    @property
    def members(self) -> int:
        return len(self.state.columns.member_ids)

    def since_finished(self) -> float:
        """Seconds since the calculation that kept it finished."""
        return time.monotonic() - self.finished


class KeptStates:
    """This process's kept states, and ``channel``: where wake-ups for them should go (the
    process's own worker channel; empty when it runs no worker of its own).
    """

    def __init__(self) -> None:
        self._states: OrderedDict[int, Kept] = OrderedDict()
        self._lock = Lock()
        self.channel = ""

    def take(self, decision_id: int) -> Kept | None:
        with self._lock:
            return self._states.pop(decision_id, None)

    def put(self, decision_id: int, kept: Kept) -> None:
        limit = settings.CALC_KEPT_MEMBERS
        with self._lock:
            self._states[decision_id] = kept
            total = sum(k.members for k in self._states.values())
            while total > limit and self._states:
                _, evicted = self._states.popitem(last=False)
                total -= evicted.members

    def clear(self) -> None:
        with self._lock:
            self._states.clear()


kept_states = KeptStates()
