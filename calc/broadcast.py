"""Status and result broadcasts to the group ``decision.<id>``.

Each message carries the calculation's whole state (and, once completed, its whole result
with the choices it names), never a delta: a lost message is healed by the next one, and
subscribers need no database read to pass it on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypedDict

from channels.layers import get_channel_layer
from django.utils.dateparse import parse_datetime

from calc.layer import send_or_skip
from calc.models import Calculation
from calc.results import calculation_latest_completed
from democracy.models import Choice

STATUS = "calc.status"
logger = logging.getLogger(__name__)


class ChoiceMessage(TypedDict):
    id: int
    title: str
    description: str


class CalculationMessage(TypedDict):
    type: str
    decision_id: int
    calculation: dict[str, Any]
    choices: list[ChoiceMessage]


DATETIME_FIELDS = ("requested_at", "started_at", "finished_at")
PLAIN_FIELDS = (
    "id",
    "decision_id",
    "generation",
    "status",
    "failed_stage",
    "trigger",
    "duration_ms",
    "error",
    "retry_count",
    "change_count",
    "is_final",
    "content_hash",
    "results",
    "absorbed_by_id",
)


def group_name(decision_id: int) -> str:
    return f"decision.{decision_id}"


def calculation_message(
    calculation: Calculation, choices: Iterable[Choice] = ()
) -> CalculationMessage:
    """Return the broadcast for one calculation state; ``choices`` go with a result."""
    state: dict[str, Any] = {name: getattr(calculation, name) for name in PLAIN_FIELDS}
    if state["results"]:
        # One entry per direct voter (half a megabyte at 100,000 members) would ride along
        # to every subscriber; the few who ask for influence read it from the database.
        state["results"] = {k: v for k, v in state["results"].items() if k != "influence"}
    for name in DATETIME_FIELDS:
        value: datetime | None = getattr(calculation, name)
        state[name] = value.isoformat() if value else None
    return {
        "type": STATUS,
        "decision_id": calculation.decision_id,
        "calculation": state,
        "choices": [{"id": c.pk, "title": c.title, "description": c.description} for c in choices],
    }


def calculation_from_message(message: CalculationMessage) -> Calculation:
    """Return an unsaved Calculation carrying the state of a broadcast."""
    state = dict(message["calculation"])
    for name in DATETIME_FIELDS:
        state[name] = parse_datetime(state[name]) if state[name] else None
    return Calculation(**state)


def choices_from_message(message: CalculationMessage) -> list[Choice]:
    """Return unsaved Choices as the broadcast named them."""
    return [
        Choice(
            pk=c["id"],
            decision_id=message["decision_id"],
            title=c["title"],
            description=c["description"],
        )
        for c in message["choices"]
    ]


def broadcast(calculation: Calculation, choices: Iterable[Choice] = ()) -> None:
    """Send one calculation state to its decision's subscribers; losing it is harmless.

    While Redis is away the broadcast is skipped (calc.layer logs the outage once); when it
    is back, servers send each subscription the state it missed (``state_messages``).
    """
    layer = get_channel_layer()
    if layer is None:
        return
    message = calculation_message(calculation, choices)
    try:
        send_or_skip(layer.group_send, group_name(calculation.decision_id), message)
    except Exception:
        logger.warning("Broadcast of calculation %s failed", calculation.pk, exc_info=True)


def decision_of_group(group: str) -> int | None:
    """Return the decision id of a ``decision.<id>`` group name, None for another name."""
    prefix, _, rest = group.partition(".")
    return int(rest) if prefix == "decision" and rest.isascii() and rest.isdigit() else None


def state_messages(decision_id: int) -> list[CalculationMessage]:
    """Return the broadcasts that bring a subscriber up to date after it missed some.

    The current result (with its choices), then the newest calculation if it is another:
    subscriptions skip whatever they already sent.
    """
    messages = []
    completed = calculation_latest_completed(decision_id)
    if completed is not None:
        choices = Choice.objects.filter(decision_id=decision_id)
        messages.append(calculation_message(completed, choices))
    latest = Calculation.objects.filter(decision_id=decision_id).first()
    if latest is not None and latest != completed:
        messages.append(calculation_message(latest))
    return messages
