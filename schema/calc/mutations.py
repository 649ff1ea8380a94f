"""recalculateDecision: a manager's explicit request."""

from __future__ import annotations

import strawberry
import strawberry_django

from calc.recalculation import recalculation_request
from democracy.selectors import decision_list_visible
from schema.context import Info, load, signed_in_user
from schema.errors import mutation_payload
from schema.payloads import CalculationPayload, confirmation
from schema.permissions import IsSignedIn

RECALCULATION_REQUESTED = "Recalculation requested!"


@strawberry.type
class CalcMutation:
    @strawberry_django.mutation(handle_django_errors=False, permission_classes=[IsSignedIn])
    @mutation_payload(CalculationPayload)
    def recalculate_decision(self, info: Info, decision_id: strawberry.ID) -> CalculationPayload:
        """Queue a recalculation now (managers only); answers at once with the calculation."""
        user = signed_in_user(info)
        # A decision the caller cannot see is unknown to them, as in schema.democracy.
        decision = load(
            decision_list_visible(user).select_related("community"),
            decision_id,
            type_name="Decision",
            field="decisionId",
        )
        calculation = recalculation_request(user=user, decision=decision)
        return CalculationPayload(
            calculation=calculation,
            calculations=[calculation],
            message=confirmation(RECALCULATION_REQUESTED, [calculation]),
        )
