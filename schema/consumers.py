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
from collections import Counter, defaultdict
from collections.abc import AsyncGenerator, Collection
from datetime import timedelta
from functools import cached_property, lru_cache
from typing import Any, cast
from weakref import WeakSet

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from django.conf import settings
from graphql import GraphQLError, GraphQLFormattedError, OperationType
from strawberry.channels import GraphQLWSConsumer
from strawberry.channels.handlers.ws_handler import ChannelsWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.http.websocket_origin import normalize_allowed_origins
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    Message,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage, StartMessage
from strawberry.types.unset import UnsetType

from accounts.errors import INVALID_BEARER_TOKEN
from accounts.middleware import bearer_token
from accounts.services.tokens import token_authenticate
from core.errors import NotAuthenticated
from core.inbox import Inbox
from schema.calc.access import SIGNED_OUT, credential_holds, viewer_of
from schema.client_errors import ClientErrorCode
from schema.errors import ErrorCode, graphql_error
from schema.feeds import follow, operation_type, shareable
from schema.limits import document_refusal, variables_refusal
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
# graphql-transport-ws closes with 4400 on a message it cannot read; the older protocol
# has no code for it, so it gets the same one.
MALFORMED = 4400
QUERY_TOO_COMPLEX = ClientErrorCode.QUERY_TOO_COMPLEX.value
BAD_USER_INPUT = ClientErrorCode.BAD_USER_INPUT.value
TOO_DEEP = "WebSocket message nests too deeply"
SIGNED_OUT_ERROR = graphql_error(NotAuthenticated(SIGNED_OUT)).formatted
TOO_MANY = (
    "This connection already runs {limit} operations, the most one connection may: "
    "complete one first (or open another connection)."
)
SUBSCRIPTIONS_ONLY = GraphQLError(
    "The graphql-ws protocol carries subscriptions only: send queries and mutations over "
    "graphql-transport-ws or HTTP (POST /graphql).",
    extensions={"code": ErrorCode.SUBSCRIPTIONS_ONLY.value},
).formatted
NOT_A_MESSAGE = "A message must be a JSON object with a string 'type'"


def limit_refusal(payload: Any) -> GraphQLFormattedError | None:
    """Return the error refusing an operation over a limit, checked before it is parsed.

    Parsing and coercing run on the event loop: a frame near daphne's 1 MiB limit stalled
    every socket of the process for seconds.
    """
    message = document_refusal(payload["query"])
    if message is not None:
        return GraphQLError(message, extensions={"code": QUERY_TOO_COMPLEX}).formatted
    message = variables_refusal(payload.get("variables"))
    if message is not None:
        return GraphQLError(message, extensions={"code": BAD_USER_INPUT}).formatted
    return None


def too_many(limit: int) -> GraphQLFormattedError:
    code = ErrorCode.TOO_MANY_SUBSCRIPTIONS.value
    return GraphQLError(TOO_MANY.format(limit=limit), extensions={"code": code}).formatted


def message_fault(message: object, *, start: str, stop: str) -> str | None:
    """Return why a decoded frame is not a well-formed message, or None if it is.

    ``start`` and ``stop`` are the protocol's types that start and stop an operation.
    Strawberry reads their fields unchecked: a wrong one killed the socket's handler.
    """
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return NOT_A_MESSAGE
    kind = message["type"]
    if kind in (start, stop) and not isinstance(message.get("id"), str):
        return f"A '{kind}' message needs a string 'id'"
    if kind != start:
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return f"A '{kind}' message needs a payload object with a string 'query'"
    variables, name = payload.get("variables"), payload.get("operationName")
    if not isinstance(variables, dict | None) or not isinstance(name, str | None):
        return "'variables' must be an object and 'operationName' a string, or null"
    return None


class LeanWebSocketAdapter(ChannelsWebSocketAdapter):
    """Strawberry's adapter, not holding on to the last message while it waits for the next."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        queue = self.ws_consumer.message_queue
        while True:
            message = await queue.get()
            if message["disconnected"]:
                break
            text = message["message"]
            del message
            if self.ws_consumer.closed:
                continue  # Closing: what the client sent meanwhile is not acted on.
            if text is None:
                raise NonTextMessageReceived
            try:
                decoded = [self.view.decode_json(text)]
            except json.JSONDecodeError as error:
                if not ignore_parsing_errors:
                    raise NonJsonMessageReceived from error
                continue
            except RecursionError:
                # Escaped the handler, which then left the socket open and unanswered.
                await self.ws_consumer.close(code=MALFORMED, reason=TOO_DEEP)
                continue
            finally:
                del text
            yield decoded.pop()  # held by the handler alone while it handles it


class SharedTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws, with subscriptions served by shared feeds (``schema.feeds``)."""

    async def handle(self) -> None:
        """Strawberry's, but the last message handled is let go while the socket idles."""
        self.on_request_accepted()
        try:
            try:
                async for message in self.websocket.iter_json():
                    await self.handle_message(cast(Message, message))
                    del message
            except NonTextMessageReceived:
                await self.handle_invalid_message("WebSocket message type must be text")
            except NonJsonMessageReceived:
                await self.handle_invalid_message("WebSocket message must be valid JSON")
        except WebSocketDisconnected:
            pass
        finally:
            await self.shutdown()

    async def handle_message(self, message: Message) -> None:
        fault = message_fault(message, start="subscribe", stop="complete")
        if fault is not None:
            await self.handle_invalid_message(fault)
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        refusal = None
        # Not acknowledged yet, or an id in use: strawberry closes the socket.
        if self.connection_acknowledged and message["id"] not in self.operations:
            refusal = limit_refusal(message["payload"])
            limit = self.max_subscriptions_per_connection
            if refusal is None and limit is not None and len(self.operations) >= limit:
                refusal = too_many(limit)
        if refusal is None:
            await super().handle_subscribe(message)
            return
        await self.send_message({"id": message["id"], "type": "error", "payload": [refusal]})

    def on_request_accepted(self) -> None:
        super().on_request_accepted()
        assert self.connection_init_timeout_task is not None
        self.connection_init_timeout_task.add_done_callback(self._forget_init_timeout)

    def _forget_init_timeout(self, task: asyncio.Task[None]) -> None:
        # Cancelled once connection_init arrives, the task would keep its CancelledError,
        # traceback and frames (~1.5 KB) for as long as the socket lives.
        if self.connection_init_timeout_task is task:
            self.connection_init_timeout_task = None

    async def run_operation(self, operation: Operation[Any, Any]) -> None:
        # The handler's websocket is typed as the protocol-neutral adapter; under Channels it
        # is strawberry's, which holds the consumer.
        consumer = cast("GraphQLSubscriptionConsumer", self.websocket.ws_consumer)  # type: ignore[attr-defined]
        if not shareable(operation.query, operation.operation_name):
            if await consumer.signed_out():
                error: Message = {
                    "id": operation.id,
                    "type": "error",
                    "payload": [SIGNED_OUT_ERROR],
                }
                await operation.send_operation_message(error)
                await consumer.close(code=REFUSED, reason=SIGNED_OUT)
                return
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

    async def handle_message(self, message: OperationMessage) -> None:
        # Text that is not JSON, and types it does not know, strawberry skips as before.
        fault = message_fault(message, start="start", stop="stop")
        if fault is not None:
            await self.websocket.close(code=MALFORMED, reason=fault)
            return
        await super().handle_message(message)

    async def handle_start(self, message: StartMessage) -> None:
        refusal = None
        if self.connection_acknowledged:  # Else strawberry closes the socket.
            payload = message["payload"]
            refusal = limit_refusal(payload)
            if refusal is None and operation_type(
                payload["query"], payload.get("operationName")
            ) in (OperationType.QUERY, OperationType.MUTATION):
                # Strawberry would run it as a subscription, which fails as a fault.
                refusal = SUBSCRIPTIONS_ONLY
            limit = self.max_subscriptions_per_connection
            running = len(self.tasks) - (message["id"] in self.tasks)  # replaced if so
            if refusal is None and limit is not None and running >= limit:
                refusal = too_many(limit)
        if refusal is None:
            await super().handle_start(message)
            return
        await self.send_message({"type": "error", "id": message["id"], "payload": refusal})

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
            if await consumer.signed_out():
                self.tasks.pop(operation_id, None)
                await self.send_message(
                    {"type": "error", "id": operation_id, "payload": SIGNED_OUT_ERROR}
                )
                await consumer.close(code=REFUSED, reason=SIGNED_OUT)
                return
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


@lru_cache(maxsize=8)
def _origins(allowed: tuple[str, ...]) -> frozenset[str]:
    return frozenset(normalize_allowed_origins(allowed))


class GraphQLSubscriptionConsumer(GraphQLWSConsumer):
    """One websocket: kept small, since a crowd keeps thousands of them open and idle.

    What strawberry's consumer sets per socket but is the same for all lives on the class;
    what only a message needs is made when one comes.
    """

    graphql_transport_ws_handler_class = SharedTransportWSHandler
    graphql_ws_handler_class = SharedLegacyWSHandler
    websocket_adapter_class = LeanWebSocketAdapter
    # No channel of its own per socket: subscriptions listen through the process's group
    # relay (``schema.relay``), one layer channel per group, so no layer is named here.
    channel_layer_alias = "none: subscriptions listen through schema.relay"
    channel_layer = None
    groups: tuple[str, ...] = ()
    # GraphQLWSConsumer's defaults, set per socket there.
    schema = schema
    keep_alive = False
    keep_alive_interval = 1.0
    connection_init_wait_timeout = timedelta(minutes=1)
    max_subscriptions_per_connection = 100
    protocols = (GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL)
    closed = False  # Set on the socket once it is closing.

    def __init__(self) -> None:  # Not GraphQLWSConsumer's: see the class docstring.
        # Read by strawberry's adapter with get() only: an Inbox does what its Queue did.
        self.message_queue = cast("asyncio.Queue[Any]", Inbox())
        self.run_task: asyncio.Task[Any] | None = None
        self.refusal: str | None = None
        self._outbox: Outbox | None = None

    @property  # strawberry sets it per socket: one value here
    def allowed_origins(self) -> Collection[str]:  # type: ignore[override]
        return _origins(tuple(settings.WEBSOCKET_ALLOWED_ORIGINS))

    # ChannelsConsumer's, for listen_to_channel (subscriptions use the relay instead).
    @cached_property
    def listen_queues(self) -> defaultdict[str, WeakSet[asyncio.Queue[Any]]]:  # type: ignore[override]
        return defaultdict(WeakSet)

    @cached_property
    def _group_refs(self) -> Counter[str]:  # type: ignore[override]
        return Counter()

    @cached_property
    def _group_lock(self) -> asyncio.Lock:  # type: ignore[override]
        return asyncio.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Dispatch the socket's messages in turn, as channels does for a consumer.

        Without a channel layer of its own, channels' ``await_many_dispatch`` would still
        wait on ``receive`` in a task of its own (~1.5 KB): awaited here directly.
        """
        self.scope = scope
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message: Any) -> None:
        """Hand a websocket message to its handler.

        Channels first closes stale database connections, in a thread, for every message:
        that thread hop would cost each socket ~1 KB of context for its whole life. This
        consumer reaches the database only through ``database_sync_to_async``, which does
        the same in its own thread.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

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
        if self.closed:
            return  # Once is enough: several operations may find the same fault.
        self.closed = True
        if self.refusal is not None:
            code, reason = REFUSED, self.refusal
        await super().close(code=code, reason=reason)

    async def signed_out(self) -> bool:
        """Whether the socket's sign-in (a token or a session) has ended since it was opened.

        ``scope["user"]`` is set once, at connection_init: checked from the database before
        each operation no shared feed serves (feeds re-check by themselves). Anonymous
        sockets have nothing to check.
        """
        viewer = viewer_of(self.scope)
        return viewer.user_id is not None and not await credential_holds(viewer)

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            self._outbox = Outbox(self)
        return self._outbox
