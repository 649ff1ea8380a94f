"""Sign a browser or a script in and out: session cookie plus API bearer token."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import login, logout
from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.db import transaction

from accounts.models import ApiToken
from accounts.services.magic_links import magic_link_redeem
from accounts.services.tokens import token_issue, token_revoke
from core.errors import NotAuthenticated
from core.logs import Event, log_event

if TYPE_CHECKING:
    from django.http import HttpRequest

    from accounts.models import User

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
SIGN_IN_TOKEN_NAME = "magic link sign-in"


@dataclass(frozen=True, slots=True)
class SignIn:
    user: User
    token: str  # the API bearer token in clear, shown once


def client_ip(request: HttpRequest) -> str | None:
    """Return the client's address, if it is one (behind ``TRUSTED_PROXIES``, the visitor's)."""
    address = str(request.META.get("REMOTE_ADDR") or "")
    try:
        validate_ipv46_address(address)
    except ValidationError:
        return None  # A unix socket or an odd ASGI server: no per-address limit applies.
    return address


@transaction.atomic
def session_sign_in(*, request: HttpRequest, token: str) -> SignIn:
    """Redeem a magic link, issue an API token and log the browser in with a session.

    Scripts keep the bearer token; browsers may ignore it and use the session cookie.
    """
    user = magic_link_redeem(token=token, ip=client_ip(request))
    login(request, user, backend=MODEL_BACKEND)
    session_key = request.session.session_key or ""
    raw = token_issue(user=user, name=SIGN_IN_TOKEN_NAME, session_key=session_key)[1]
    return SignIn(user=user, token=raw)


def _session_end(session_key: str) -> None:
    """Delete the stored session ``session_key`` (a no-op when it is already gone)."""
    if session_key:
        import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key).delete()


@transaction.atomic
def session_sign_out(*, request: HttpRequest) -> None:
    """Revoke the bearer token of this request (if any) and end its session.

    One sign-in gives a token and a session; signing out with either ends both, so the
    token of a browser's sign-in does not outlive its cookie, nor the cookie the token.
    Other tokens of the user stay valid: each script or device signs out on its own.
    """
    user = request.user if request.user.is_authenticated else None
    if user is None:
        raise NotAuthenticated()
    api_token: ApiToken | None = getattr(request, "api_token", None)
    if api_token is not None:
        token_revoke(token=api_token)
        _session_end(api_token.session_key)
    session_key = request.session.session_key
    if session_key:
        for paired in ApiToken.objects.filter(
            user=user, session_key=session_key, revoked_at__isnull=True
        ):
            token_revoke(token=paired)
    logout(request)
    revoked = f" and revoked API token #{api_token.pk}" if api_token else ""
    log_event(Event.SIGN_OUT, user.get_username(), f"Signed out{revoked}")
