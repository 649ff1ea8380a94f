"""The browser sign-in page: ask for a link, then confirm it with a button.

Opening the link only shows the button. Mail scanners and link previews fetch URLs with
GET, so a GET must never use up the link; the POST (with a CSRF token) does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from accounts.services import magic_links, sessions
from core.errors import DomainError

if TYPE_CHECKING:
    from django.http import HttpRequest

TEMPLATE = "accounts/sign_in.html"
SIGNED_IN_TEMPLATE = "accounts/signed_in.html"


def _next(request: HttpRequest) -> str:
    """Return the page to go back to after signing in (a path on this site), or ""."""
    return magic_links.local_path(request.POST.get("next") or request.GET.get("next"))


def _page(request: HttpRequest, status: int = 200, **context: object) -> HttpResponse:
    context.setdefault("ttl_minutes", max(1, settings.MAGIC_LINK_TTL_SECONDS // 60))
    context.setdefault("next", _next(request))
    response = render(request, TEMPLATE, context, status=status)
    # The URL carries the token: keep it out of Referer headers of any followed link.
    response["Referrer-Policy"] = "no-referrer"
    return response


@method_decorator(never_cache, name="dispatch")
class SignInView(View):
    """GET shows a form; POST either requests a link (``email``) or redeems one (``token``).

    ``next`` (a path on this site, anything else is ignored) rides along in the emailed
    link and is offered once signed in, so a visitor sent here by a widget gets back to it.
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        return _page(request, token=request.GET.get("token", "").strip())

    def post(self, request: HttpRequest) -> HttpResponse:
        if "email" in request.POST:
            return self._request_link(request, request.POST["email"])
        token = request.POST.get("token", "")
        try:
            signed_in = sessions.session_sign_in(request=request, token=token)
        except DomainError as error:
            return _page(request, status=400, error=error.message)
        context = {"user": signed_in.user, "token": signed_in.token, "next": _next(request)}
        response = render(request, SIGNED_IN_TEMPLATE, context)
        response["Referrer-Policy"] = "no-referrer"
        return response

    def _request_link(self, request: HttpRequest, email: str) -> HttpResponse:
        try:
            magic_links.magic_link_request(
                email=email, ip=sessions.client_ip(request), next_path=_next(request)
            )
        except DomainError as error:
            return _page(request, status=400, error=error.message, email=email)
        return _page(request, sent_to=email.strip())
