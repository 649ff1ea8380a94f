"""The websocket GraphQL endpoint (``graphql-transport-ws`` and the older ``graphql-ws``).

A client signs in with ``{"authorization": "Bearer <token>"}`` in its ``connection_init``
payload; a browser may rely on its session cookie instead. Cross-origin pages are refused
unless listed in ``WEBSOCKET_ALLOWED_ORIGINS``; clients that send no Origin are allowed.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from strawberry.channels import GraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType

from accounts.errors import INVALID_BEARER_TOKEN
from accounts.middleware import bearer_token
from accounts.services.tokens import token_authenticate
from schema.errors import ErrorCode
from schema.schema import schema

INVALID_TOKEN: dict[str, object] = {
    "message": INVALID_BEARER_TOKEN,
    "code": ErrorCode.UNAUTHENTICATED.value,
}
# graphql-transport-ws asks servers to refuse a connection_init with 4403; the older
# protocol has no code of its own, so it gets the same one.
REFUSED = 4403
# A close frame carries at most 123 bytes of reason.
INVALID_TOKEN_REASON = "The bearer token is invalid or expired. Sign in again for a new token."


class GraphQLSubscriptionConsumer(GraphQLWSConsumer):
    def __init__(self) -> None:
        super().__init__(schema=schema, allowed_origins=settings.WEBSOCKET_ALLOWED_ORIGINS)
        self.refusal: str | None = None

    async def on_ws_connect(self, context: Any) -> UnsetType | dict[str, object] | None:
        params = context.get("connection_params") or {}
        header = params.get("authorization") or params.get("Authorization")
        if header is None:
            return await super().on_ws_connect(context)
        raw = bearer_token(str(header))
        token = await database_sync_to_async(token_authenticate)(raw) if raw else None
        if token is None:
            self.refusal = INVALID_TOKEN_REASON
            raise ConnectionRejectionError(INVALID_TOKEN)
        self.scope["user"] = token.user
        self.scope["api_token_id"] = token.pk  # Re-checked while subscriptions are open.
        return await super().on_ws_connect(context)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        """Close a refused connection with ``REFUSED`` and why, whatever the protocol says.

        After a refusal strawberry closes with 4403 "Forbidden" (graphql-transport-ws) or
        with 1011 and no reason (graphql-ws), a code daphne cannot send: the socket stayed
        open and the client waited for ever.
        """
        if self.refusal is not None:
            code, reason = REFUSED, self.refusal
        await super().close(code=code, reason=reason)
