"""Stable error codes and messages of recalculation requests."""

from __future__ import annotations

from enum import StrEnum


class CalcErrorCode(StrEnum):
    DECISION_NOT_OPEN = "DECISION_NOT_OPEN"
    DECISION_FINAL = "DECISION_FINAL"


DRAFT = "A draft decision has nothing to calculate yet. Publish it first."
FINAL = "This decision is closed and its final result is in; it cannot be recalculated."
