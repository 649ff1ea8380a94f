"""The HTTP GraphQL endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import async_to_sync
from cross_web import HTTPException
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponseBase
from graphql import GraphQLError, GraphQLSyntaxError, parse
from strawberry.django.views import GraphQLView
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.utils.operation import get_operation_type

from accounts.errors import INVALID_BEARER_TOKEN
from schema.client_errors import coded_all
from schema.errors import ErrorCode
from schema.http_requests import NOT_UTF8, decode_request, limits_refusal, refused, too_large
from schema.http_stream import SubscriptionStreamView, wants_stream
from schema.limits import document_refusal
from schema.schema import schema

if TYPE_CHECKING:
    from cross_web import SyncHTTPRequestAdapter
    from strawberry.django.views import TemporalHttpResponse
    from strawberry.http import GraphQLRequestData

# An async view, though typed as a plain one.
STREAM = cast("Callable[..., Awaitable[HttpResponseBase]]", SubscriptionStreamView.as_view())
STREAM_REQUIRED = (
    "A subscription streams its results: open a websocket to /graphql (subprotocol "
    "graphql-transport-ws or graphql-ws), or ask this endpoint for a stream with "
    "'Accept: multipart/mixed;subscriptionSpec=1.0' or 'Accept: text/event-stream'."
)


def is_subscription(query: str | None, operation_name: str | None) -> bool:
    if not query or "subscription" not in query:  # Spares parsing queries and mutations.
        return False
    try:
        return get_operation_type(parse(query), operation_name) == OperationType.SUBSCRIPTION
    except (GraphQLSyntaxError, RuntimeError):
        return False  # Left for the schema to report.


def streams(request: HttpRequest) -> bool:
    """Whether to stream the answer: a subscription, from a client that accepts a stream.

    Clients such as urql accept a stream for every request; queries and mutations are
    answered as plain JSON all the same.
    """
    if not wants_stream(request.headers):
        return False
    query: object
    name: object
    if request.method == "GET":
        query, name = request.GET.get("query"), request.GET.get("operationName")
    else:
        try:
            body = decode_request(request.body)
        except (ValueError, HTTPException):
            return False  # The plain view refuses it.
        query, name = body.get("query"), body.get("operationName")
    if document_refusal(query):
        return False  # The plain view refuses it, without parsing it.
    return is_subscription(
        query if isinstance(query, str) else None, name if isinstance(name, str) else None
    )


class CrowdVoteGraphQLView(GraphQLView):
    """GraphQL over HTTP; GraphiQL in the browser when ``GRAPHIQL`` is on.

    CSRF: bearer requests need no token, cookieless ones are checked by Origin, and
    cookie-authenticated ones need the token (``accounts.csrf``, applied in the URLconf).

    A request that is not GraphQL at all (not JSON, not UTF-8, not an object, or with text
    that is not Unicode) is answered 400 with a GraphQL-shaped error and code
    ``BAD_REQUEST``, like any other error; one over Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``
    413 with ``REQUEST_TOO_LARGE`` (``schema.http_requests``).
    Subscriptions are streamed by ``SubscriptionStreamView`` to requests that ask for it.
    """

    schema = schema

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            schema=schema, graphql_ide="graphiql" if settings.GRAPHIQL_ENABLED else None
        )

    def execute_single(
        self,
        request: HttpRequest,
        request_adapter: SyncHTTPRequestAdapter,
        sub_response: TemporalHttpResponse,
        context: Any,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # A client whose token stopped working must learn it, not get anonymous answers (and
        # "Sign in first" from mutations) while it believes itself signed in.
        if getattr(request, "bearer_token_invalid", False):
            error = GraphQLError(
                INVALID_BEARER_TOKEN, extensions={"code": ErrorCode.UNAUTHENTICATED.value}
            )
            return ExecutionResult(data=None, errors=[error])
        # Before anything parses the document or coerces the variables (``schema.limits``).
        if refusal := limits_refusal(request_data.query, request_data.variables):
            return refusal
        if is_subscription(request_data.query, request_data.operation_name):
            error = GraphQLError(
                STREAM_REQUIRED, extensions={"code": ErrorCode.STREAM_REQUIRED.value}
            )
            return ExecutionResult(data=None, errors=[error])
        return super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )

    def decode_json(self, data: str | bytes) -> object:
        return decode_request(data)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            request.body.decode()
        except RequestDataTooBig:
            return refused(too_large())
        except UnicodeDecodeError:
            return refused(HTTPException(400, NOT_UTF8))
        # Requests that ask for a stream (subscriptions over HTTP) go to the async view.
        if streams(request):
            return async_to_sync(STREAM)(request)
        try:
            return self.run(request=request)
        except HTTPException as error:
            return refused(error)

    def process_result(self, request: HttpRequest, result: ExecutionResult) -> GraphQLHTTPResponse:
        # Errors raised before the operation's hooks (a document over the token limit fails
        # in the parser cache) bypass ``ClientErrors``: code them here too.
        result.errors = coded_all(result.errors)
        return super().process_result(request, result)
