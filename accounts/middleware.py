"""Authenticate HTTP requests that carry ``Authorization: Bearer <token>``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.contrib.auth.models import AnonymousUser

from accounts.services.tokens import token_authenticate

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

BEARER = "bearer "


def bearer_token(header: str | None) -> str | None:
    """Return the token of an ``Authorization`` header value, or None if it is not Bearer."""
    if header and header[: len(BEARER)].lower() == BEARER:
        return header[len(BEARER) :].strip() or None
    return None


class BearerTokenMiddleware:
    """Set ``request.user`` from a bearer token, which replaces any session user.

    A bearer token that matches no active token leaves the request anonymous and sets
    ``request.bearer_token_invalid``, so the API can say so instead of answering as if the
    client had signed out on purpose.

    Which requests may skip CSRF is decided by ``accounts.csrf``, not here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get("Authorization")
        if header is not None:
            raw = bearer_token(header)
            token = token_authenticate(raw) if raw else None
            request.api_token = token  # type: ignore[attr-defined]
            invalid = raw is not None and token is None
            request.bearer_token_invalid = invalid  # type: ignore[attr-defined]
            request.user = token.user if token else AnonymousUser()
        return self.get_response(request)
