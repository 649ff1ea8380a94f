"""The HTTP GraphQL endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from graphql import GraphQLError
from strawberry.django.views import GraphQLView
from strawberry.types import ExecutionResult

from accounts.errors import INVALID_BEARER_TOKEN
from schema.errors import ErrorCode
from schema.schema import schema

if TYPE_CHECKING:
    from cross_web import SyncHTTPRequestAdapter
    from django.http import HttpRequest
    from strawberry.django.views import TemporalHttpResponse
    from strawberry.http import GraphQLRequestData


class CrowdVoteGraphQLView(GraphQLView):
    """GraphQL over HTTP; GraphiQL in the browser when ``GRAPHIQL`` is on.

    CSRF: bearer requests need no token, cookieless ones are checked by Origin, and
    cookie-authenticated ones need the token (``accounts.csrf``, applied in the URLconf).
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
