"""Explicit recalculation requests: a manager's button and the operator's command."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from calc import errors
from calc.errors import CalcErrorCode
from calc.models import Calculation
from calc.queue import request_recalculation
from core.errors import DomainError
from democracy.access import manager_require
from democracy.models import Decision, DecisionStatus
from democracy.pseudonyms import display_name

# Which manager asked goes to the event log; the trigger is read by every member.
REQUESTED = "Recalculation requested by a manager"

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User


@transaction.atomic
def recalculation_request(*, user: User | AnonymousUser | None, decision: Decision) -> Calculation:
    """Queue a recalculation of one decision (managers only); return the queued calculation."""
    manager = manager_require(user, decision.community)
    decision = Decision.objects.select_for_update().get(pk=decision.pk)
    if decision.status == DecisionStatus.DRAFT:
        raise DomainError(CalcErrorCode.DECISION_NOT_OPEN, errors.DRAFT, field="decisionId")
    if Calculation.objects.filter(decision_id=decision.pk, is_final=True).exists():
        raise DomainError(CalcErrorCode.DECISION_FINAL, errors.FINAL, field="decisionId")
    (calculation,) = request_recalculation(
        community_id=decision.community_id,
        decision_ids=[decision.pk],
        actor=display_name(manager),
        trigger=REQUESTED,
    )
    return calculation
