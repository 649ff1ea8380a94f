"""The websocket GraphQL endpoint (``graphql-transport-ws`` and the older ``graphql-ws``).

A client signs in with ``{"authorization": "Bearer <token>"}`` in its ``connection_init``
payload; a browser may rely on its session cookie instead. Cross-origin pages are refused
unless listed in ``WEBSOCKET_ALLOWED_ORIGINS``; clients that send no Origin are allowed.

Sockets ride out a Redis outage: they stay open, a subscription started meanwhile gets a
``SERVICE_UNAVAILABLE`` error, and when Redis is back each socket rejoins its groups and
sends every subscription the state it missed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from graphql import GraphQLError
from strawberry.channels import GraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType

from accounts.errors import INVALID_BEARER_TOKEN
from accounts.middleware import bearer_token
from accounts.services.tokens import token_authenticate
from calc import layer
from calc.broadcast import decision_of_group, state_messages
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
UNAVAILABLE = "Live updates are unavailable right now; try again in a few seconds."


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

    # AsyncConsumer.__call__ stores the layer's own receive here; reading it back gives the
    # receive that waits out a Redis outage instead of failing the socket (a 1011 close).
    @property
    def channel_receive(self) -> Callable[[], Awaitable[Any]]:
        return self._receive_riding_out

    @channel_receive.setter
    def channel_receive(self, receive: Callable[[], Awaitable[Any]]) -> None:
        pass  # Replaced by _receive_riding_out, which receives on the same channel.

    async def _receive_riding_out(self) -> Any:
        return await layer.receive(self.channel_layer, self.channel_name, watcher=self)

    @contextlib.asynccontextmanager
    async def listen_to_channel(
        self, type: str, *, timeout: float | None = None, groups: Sequence[str] = ()
    ) -> AsyncGenerator[Any, None]:
        """Strawberry's, with a clear error when Redis is away as the subscription starts."""
        async with contextlib.AsyncExitStack() as stack:
            try:
                listening = super().listen_to_channel(type, timeout=timeout, groups=groups)
                messages = await stack.enter_async_context(listening)
            except layer.LAYER_ERRORS as error:
                layer.health.failed(error)
                raise GraphQLError(
                    UNAVAILABLE, extensions={"code": "SERVICE_UNAVAILABLE"}
                ) from error
            yield messages

    async def layer_returned(self) -> None:
        """Redis is back: rejoin this socket's groups, then send what was missed meanwhile."""
        assert self.channel_layer is not None
        groups = list(self._group_refs)
        try:
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
        except layer.LAYER_ERRORS:
            return  # Gone again: called once more when it is back.
        for group in groups:
            decision_id = decision_of_group(group)
            if decision_id is not None:
                for message in await database_sync_to_async(state_messages)(decision_id):
                    await self.dispatch(message)
