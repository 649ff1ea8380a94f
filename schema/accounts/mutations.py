"""Sign-in mutations: magic links, bearer tokens, sign-out."""

from __future__ import annotations

import strawberry
import strawberry_django
from django.http import HttpRequest
from graphql import GraphQLError

from accounts.services import magic_links, sessions
from schema.accounts.payloads import AuthPayload
from schema.context import Info
from schema.errors import ErrorCode, mutation_payload
from schema.payloads import OkPayload
from schema.permissions import IsSignedIn

HTTP_ONLY = (
    "Signing in and out sets or clears a session cookie, which a websocket cannot: send "
    "this mutation over HTTP (POST /graphql)."
)


def _request(info: Info) -> HttpRequest:
    """Return the HTTP request, or refuse: over a websocket there is none (and no cookie)."""
    request = getattr(info.context, "request", None)  # a websocket's context is a dict
    if not isinstance(request, HttpRequest):
        raise GraphQLError(HTTP_ONLY, extensions={"code": ErrorCode.HTTP_ONLY.value})
    return request


@strawberry.type
class AccountsMutation:
    @strawberry_django.mutation(
        handle_django_errors=False,
        description="Email a single-use sign-in link; the answer is the same for any address.",
    )
    @mutation_payload(OkPayload)
    def request_magic_link(self, info: Info, email: str) -> OkPayload:
        magic_links.magic_link_request(email=email, ip=sessions.client_ip(_request(info)))
        return OkPayload(ok=True)

    @strawberry_django.mutation(
        handle_django_errors=False,
        description="Redeem a sign-in link: returns an API token and sets a session cookie.",
    )
    @mutation_payload(AuthPayload)
    def sign_in_with_magic_link(self, info: Info, token: str) -> AuthPayload:
        signed_in = sessions.session_sign_in(request=_request(info), token=token)
        return AuthPayload(token=signed_in.token, user=signed_in.user)

    @strawberry_django.mutation(
        handle_django_errors=False,
        permission_classes=[IsSignedIn],
        description="Revoke the bearer token of this request and end the session.",
    )
    @mutation_payload(OkPayload)
    def sign_out(self, info: Info) -> OkPayload:
        sessions.session_sign_out(request=_request(info))
        return OkPayload(ok=True)
