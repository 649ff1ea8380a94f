"""``GET /snapshots/<Calculation ID>.json``: a completed calculation's published snapshot.

Plain HTTP, so a voter can fetch it with a browser or ``curl`` and recount it with
``crowdvote_verify``. Who may download it is who may see the decision's results: anyone for a
public community, else its approved members (signed in by session cookie or bearer token).
Anything else, an unknown or unfinished calculation included, gets the same 404: the answer
never tells whether a calculation exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from strawberry.relay import to_base64

from calc import publish
from calc.models import Calculation, CalculationStatus
from democracy import selectors
from schema.context import global_pk

if TYPE_CHECKING:
    from django.http import HttpRequest

NOT_FOUND = "No snapshot has this ID, or you cannot see it: sign in as a member."


def snapshot_url(calculation: Calculation) -> str | None:
    """Return the download path of a calculation's snapshot; None until it is completed."""
    if calculation.status != CalculationStatus.COMPLETED:
        return None
    return reverse("snapshot", kwargs={"calculation_id": to_base64("Calculation", calculation.pk)})


@require_safe
@never_cache
def snapshot_download(request: HttpRequest, calculation_id: str) -> HttpResponse:
    """Return the snapshot as a JSON attachment, or a JSON 404 saying nothing more."""
    pk = global_pk(calculation_id, type_name="Calculation")
    visible = selectors.decision_list_visible(request.user)
    calculation = (
        Calculation.objects.select_related("decision")
        .filter(
            pk=pk,
            status=CalculationStatus.COMPLETED,
            stored_snapshot__isnull=False,
            decision__in=visible,
        )
        .first()
        if pk is not None
        else None
    )
    if calculation is None:
        return JsonResponse({"error": {"code": "NOT_FOUND", "message": NOT_FOUND}}, status=404)
    body = publish.snapshot_document(
        calculation,
        decision_id=to_base64("Decision", calculation.decision_id),
        calculation_id=to_base64("Calculation", calculation.pk),
    )
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    name = f"crowdvote-calculation-{calculation.pk}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
