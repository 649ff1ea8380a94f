"""CSRF: which requests may go without a CSRF token, and how a refusal is answered.

Every POST needs Django's CSRF token (forms, the admin, cookie-authenticated API calls),
except on views marked with ``bearer_csrf_exempt`` (the GraphQL endpoint), where

- a request with ``Authorization: Bearer`` needs none: a browser never adds that header to
  a cross-site request without a CORS preflight, which this site does not answer;
- a request with no session cookie carries no credential a forger could ride on, but
  signing in sets one (login CSRF), so a browser's request from another site is refused by
  its ``Origin`` (browsers send it on every cross-site POST); scripts send no Origin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.http import JsonResponse
from django.middleware.csrf import REASON_BAD_ORIGIN, CsrfViewMiddleware
from django.views.csrf import csrf_failure as django_csrf_failure

from accounts.middleware import bearer_token

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

logger = logging.getLogger("django.security.csrf")
View = TypeVar("View", bound=Callable[..., Any])

MARK = "bearer_csrf_exempt"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_FAILED = "CSRF_FAILED"
CSRF_FAILED_MESSAGE = (
    "This request was refused as possibly forged. Browsers: call the API from this site and "
    "send the X-CSRFToken header (from the csrftoken cookie). "
    "Scripts: send 'Authorization: Bearer <token>'."
)


def bearer_csrf_exempt(view: View) -> View:
    """Mark ``view`` as an API endpoint: bearer requests skip CSRF, cookieless ones by Origin."""
    setattr(view, MARK, True)
    return view


class ApiCsrfMiddleware:
    """Apply the API exemptions described in this module; Django's middleware does the rest.

    Placed just before ``CsrfViewMiddleware``, whose check it switches off for exempt
    requests (``_dont_enforce_csrf_checks``, as Django's test client does).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.django_csrf = CsrfViewMiddleware(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        callback: Callable[..., HttpResponseBase],
        callback_args: tuple[Any, ...],
        callback_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        if not getattr(callback, MARK, False) or request.method in SAFE_METHODS:
            return None
        if bearer_token(request.headers.get("Authorization")) is None:
            if settings.SESSION_COOKIE_NAME in request.COOKIES:
                return None  # Cookie-authenticated: the CSRF token is required.
            origin = request.META.get("HTTP_ORIGIN")
            if origin is not None and not self.django_csrf._origin_verified(request):  # type: ignore[attr-defined]
                reason = REASON_BAD_ORIGIN % origin
                logger.warning("Forbidden (%s): %s", reason, request.path)
                return csrf_failure(request, reason=reason)
        request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return None


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponseBase:
    """Answer a refused API request as a GraphQL error with a code; forms get Django's page."""
    match = request.resolver_match
    if match is not None and getattr(match.func, MARK, False):
        error = {"message": CSRF_FAILED_MESSAGE, "extensions": {"code": CSRF_FAILED}}
        return JsonResponse({"data": None, "errors": [error]}, status=403)
    return django_csrf_failure(request, reason=reason)
