"""The widget page: server-rendered frame, filled in and kept current by ``widget.js``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

from democracy import selectors
from democracy.models import Decision
from schema.context import global_pk

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

NOT_FOUND = "No decision has this ID."
# Scripts, styles and the websocket stay on this host; any site may frame the page.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'"
)


def _sign_in_returning_to(request: HttpRequest) -> str:
    return f"{reverse('sign-in')}?{urlencode({'next': request.get_full_path()})}"


@require_safe
@never_cache
@xframe_options_exempt
def decision_widget(request: HttpRequest, decision_id: str) -> HttpResponse:
    """Show a decision's live results, or ask a visitor to sign in if they are not public.

    A signed-in visitor who may not see the decision gets the same 404 as for an unknown
    ID, as the API answers both alike; a signed-out one gets the same invitation to sign in
    for an unknown decision as for a hidden one, so that neither tells a draft or a private
    decision exists.
    """
    pk = global_pk(decision_id, type_name="Decision")
    if pk is None:
        raise Http404(NOT_FOUND)
    decision = Decision.objects.select_related("community").filter(pk=pk).first()
    visible = decision is not None and (
        selectors.decision_list_visible(request.user).filter(pk=decision.pk).exists()
    )
    if decision is None or not visible:
        if request.user.is_authenticated:
            raise Http404(NOT_FOUND)
        sign_in = {"sign_in": _sign_in_returning_to(request)}
        response = render(request, "widget/sign_in_needed.html", sign_in, status=403)
    else:
        context: dict[str, object] = {
            "decision": decision,
            "decision_id": decision_id,
            "sign_in": _sign_in_returning_to(request),
        }
        response = render(request, "widget/decision.html", context)
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
