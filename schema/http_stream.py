"""Subscriptions over HTTP, for clients behind proxies that drop websockets.

Two transports strawberry streams from its async view: multipart subscriptions (Apollo
Client's HttpLink, ``Accept: multipart/mixed;subscriptionSpec=1.0``) and graphql-sse in its
distinct connections mode (``Accept: text/event-stream``). Subscription resolvers listen to
the channel layer through ``context["ws"]``; here that is the process's group relay
(``schema.relay``), not a websocket consumer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asgiref.sync import sync_to_async
from cross_web import HTTPException
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from graphql import GraphQLError
from strawberry.django.views import AsyncGraphQLView
from strawberry.http.streaming import MultipartSubscriptionTransport, SSETransport
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, MULTIPART_SUBSCRIPTION_PROTOCOL
from strawberry.types import ExecutionResult

from accounts.errors import INVALID_BEARER_TOKEN
from schema.errors import ErrorCode
from schema.http_requests import decode_request, limits_refusal, refused
from schema.relay import RelayListener
from schema.schema import schema

TRANSPORTS = (MultipartSubscriptionTransport(), SSETransport())


def wants_stream(headers: Mapping[str, str]) -> bool:
    """Whether a request asks for a streamed answer (multipart or server-sent events)."""
    accept = headers.get("Accept", "")
    return any(transport.accepts(accept) for transport in TRANSPORTS)


class ChannelListener(RelayListener):
    """``listen_to_channel`` for one HTTP stream, through the process's group relay.

    ``scope`` holds what a websocket's scope would (user, session, the bearer token's id),
    so subscriptions re-check the viewer's access the same way over both transports.
    """


class SubscriptionStreamView(AsyncGraphQLView[dict[str, object], None]):
    """The GraphQL endpoint for subscriptions from clients that accept a stream."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            schema=schema,
            graphql_ide=None,
            subscription_protocols=(MULTIPART_SUBSCRIPTION_PROTOCOL, GRAPHQL_SSE_PROTOCOL),
        )

    async def get_context(self, request: HttpRequest, response: HttpResponse) -> dict[str, object]:
        # A session user is looked up lazily, which the event loop must not do.
        await sync_to_async(lambda: request.user.is_authenticated)()
        token = getattr(request, "api_token", None)
        scope = {
            "user": request.user,
            "session": getattr(request, "session", None),
            "api_token_id": token.pk if token is not None else None,
        }
        return {"request": request, "response": response, "ws": ChannelListener(scope)}

    async def dispatch(  # type: ignore[override]  # An async view, as strawberry's is.
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        # As over plain HTTP: a request that is not GraphQL gets a coded JSON error.
        try:
            return await self.run(request=request)
        except HTTPException as error:
            return refused(error)

    def decode_json(self, data: str | bytes) -> object:
        return decode_request(data)

    async def execute_operation(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        # As over plain HTTP: a client whose token stopped working must learn it.
        if getattr(request, "bearer_token_invalid", False):
            error = GraphQLError(
                INVALID_BEARER_TOKEN, extensions={"code": ErrorCode.UNAUTHENTICATED.value}
            )
            return ExecutionResult(data=None, errors=[error])
        # Before anything parses the document or coerces the variables (``schema.limits``).
        data = kwargs["request_data"]
        if refusal := limits_refusal(data.query, data.variables):
            return refusal
        return await super().execute_operation(request, *args, **kwargs)
