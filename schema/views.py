"""The HTTP GraphQL endpoint."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cross_web import HTTPException
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from graphql import GraphQLError
from strawberry.django.views import GraphQLView
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from accounts.errors import INVALID_BEARER_TOKEN
from schema.client_errors import coded_all
from schema.errors import ErrorCode
from schema.schema import schema

if TYPE_CHECKING:
    from cross_web import SyncHTTPRequestAdapter
    from strawberry.django.views import TemporalHttpResponse
    from strawberry.http import GraphQLRequestData

NOT_AN_OBJECT = 'The request body must be a JSON object such as {"query": "{ me { id } }"}.'
NOT_UTF8 = "The request body must be JSON encoded as UTF-8."
LONE_SURROGATE = "The request contains text that is not valid Unicode (an unpaired surrogate)."


class CrowdVoteGraphQLView(GraphQLView):
    """GraphQL over HTTP; GraphiQL in the browser when ``GRAPHIQL`` is on.

    CSRF: bearer requests need no token, cookieless ones are checked by Origin, and
    cookie-authenticated ones need the token (``accounts.csrf``, applied in the URLconf).

    A request that is not GraphQL at all (not JSON, not UTF-8, not an object, or with text
    that is not Unicode) is answered
    400 with a GraphQL-shaped error and code ``BAD_REQUEST``, like any other error.
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
        return super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )

    def decode_json(self, data: str | bytes) -> object:
        decoded = json.loads(data)
        # Batching is off: anything but an object (null, 42, a list) is not a request.
        if not isinstance(decoded, dict):
            raise HTTPException(400, NOT_AN_OBJECT)
        # JSON may escape half of a UTF-16 pair ("\ud800"), which no database can store.
        try:
            json.dumps(decoded, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise HTTPException(400, LONE_SURROGATE) from None
        return decoded

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            request.body.decode()
        except UnicodeDecodeError:
            return self._refuse(HTTPException(400, NOT_UTF8))
        try:
            return self.run(request=request)
        except HTTPException as error:
            return self._refuse(error)

    def process_result(self, request: HttpRequest, result: ExecutionResult) -> GraphQLHTTPResponse:
        # Errors raised before the operation's hooks (a document over the token limit fails
        # in the parser cache) bypass ``ClientErrors``: code them here too.
        result.errors = coded_all(result.errors)
        return super().process_result(request, result)

    @staticmethod
    def _refuse(error: HTTPException) -> JsonResponse:
        body = {"errors": [{"message": error.reason, "extensions": {"code": "BAD_REQUEST"}}]}
        return JsonResponse(body, status=error.status_code)
