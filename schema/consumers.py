"""The websocket GraphQL endpoint (``graphql-transport-ws`` and the older ``graphql-ws``).

A client signs in with ``{"authorization": "Bearer <token>"}`` in its ``connection_init``
payload; a browser may rely on its session cookie instead. Cross-origin pages are refused
unless listed in ``WEBSOCKET_ALLOWED_ORIGINS``; clients that send no Origin are allowed.

Subscriptions are served by shared feeds (``schema.feeds``): one execution per distinct
subscription and viewer in a process, its results serialized once and written to every
socket that asked for it, through each socket's bounded outbox (``schema.outbox``). Feeds
listen through the process's group relay (``schema.relay``), which rides out a Redis
outage: sockets stay open, a subscription started meanwhile gets a ``SERVICE_UNAVAILABLE``
error, and when Redis is back every feed gets the state it missed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from channels.db import database_sync_to_async
from django.conf import settings
from strawberry.channels import GraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.unset import UnsetType

from accounts.errors import INVALID_BEARER_TOKEN
from accounts.middleware import bearer_token
from accounts.services.tokens import token_authenticate
from schema.errors import ErrorCode
from schema.feeds import follow, shareable
from schema.outbox import Outbox
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


class SharedTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws, with subscriptions served by shared feeds (``schema.feeds``)."""

    async def run_operation(self, operation: Operation[Any, Any]) -> None:
        # The handler's websocket is typed as the protocol-neutral adapter; under Channels it
        # is strawberry's, which holds the consumer.
        consumer = cast("GraphQLSubscriptionConsumer", self.websocket.ws_consumer)  # type: ignore[attr-defined]
        if not shareable(operation.query, operation.operation_name):
            await super().run_operation(operation)
            return
        prefix = f'{{"id":{json.dumps(operation.id)},"type":"next","payload":'
        errors = await follow(
            consumer.outbox,
            operation.id,
            prefix,
            operation.query,
            operation.variables,
            operation.operation_name,
            consumer.scope,
        )
        operation.completed = True
        self.operations.pop(operation.id, None)
        end: dict[str, object] = {
            "id": operation.id,
            "type": "error" if errors is not None else "complete",
        }
        if errors is not None:
            end["payload"] = errors
        # After any result still waiting in the outbox.
        await consumer.outbox.send(f"{operation.id}\0end", json.dumps(end))


class SharedLegacyWSHandler(BaseGraphQLWSHandler[Any, Any]):
    """graphql-ws (the older protocol), with subscriptions served by shared feeds."""

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        # The handler's websocket is typed as the protocol-neutral adapter; under Channels it
        # is strawberry's, which holds the consumer.
        consumer = cast("GraphQLSubscriptionConsumer", self.websocket.ws_consumer)  # type: ignore[attr-defined]
        if not shareable(query, operation_name):
            await super().handle_async_results(operation_id, query, operation_name, variables)
            return
        prefix = f'{{"type":"data","id":{json.dumps(operation_id)},"payload":'
        end: dict[str, object] = {"type": "complete", "id": operation_id}
        try:
            errors = await follow(
                consumer.outbox,
                operation_id,
                prefix,
                query,
                variables,
                operation_name,
                consumer.scope,
            )
            if errors:
                end = {"type": "error", "id": operation_id, "payload": errors[0]}
        except asyncio.CancelledError:
            pass  # Stopped by the client: strawberry answers "complete" too.
        finally:
            self.tasks.pop(operation_id, None)
        await consumer.outbox.send(f"{operation_id}\0end", json.dumps(end))


class GraphQLSubscriptionConsumer(GraphQLWSConsumer):
    graphql_transport_ws_handler_class = SharedTransportWSHandler
    graphql_ws_handler_class = SharedLegacyWSHandler
    # No channel of its own per socket: subscriptions listen through the process's group
    # relay (``schema.relay``), one layer channel per group, so no layer is named here.
    channel_layer_alias = "none: subscriptions listen through schema.relay"

    def __init__(self) -> None:
        super().__init__(schema=schema, allowed_origins=settings.WEBSOCKET_ALLOWED_ORIGINS)
        self.refusal: str | None = None
        self._outbox: Outbox | None = None

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

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            self._outbox = Outbox(self)
        return self._outbox
