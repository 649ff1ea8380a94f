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

from accounts.middleware import bearer_token
from accounts.services.tokens import token_authenticate
from schema.schema import schema

INVALID_TOKEN: dict[str, object] = {
    "message": "The bearer token is not valid. Sign in again.",
    "code": "UNAUTHENTICATED",
}


class GraphQLSubscriptionConsumer(GraphQLWSConsumer):
    def __init__(self) -> None:
        super().__init__(schema=schema, allowed_origins=settings.WEBSOCKET_ALLOWED_ORIGINS)

    async def on_ws_connect(self, context: Any) -> UnsetType | dict[str, object] | None:
        params = context.get("connection_params") or {}
        header = params.get("authorization") or params.get("Authorization")
        if header is None:
            return await super().on_ws_connect(context)
        raw = bearer_token(str(header))
        token = await database_sync_to_async(token_authenticate)(raw) if raw else None
        if token is None:
            raise ConnectionRejectionError(INVALID_TOKEN)
        self.scope["user"] = token.user
        self.scope["api_token_id"] = token.pk  # Re-checked while subscriptions are open.
        return await super().on_ws_connect(context)
