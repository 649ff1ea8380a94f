"""The HTTP GraphQL endpoint."""

from __future__ import annotations

from django.conf import settings
from strawberry.django.views import GraphQLView

from schema.schema import schema


class CrowdVoteGraphQLView(GraphQLView):
    """GraphQL over HTTP; GraphiQL in the browser when ``GRAPHIQL`` is on.

    CSRF is enforced by Django's middleware for cookie-authenticated requests only:
    ``BearerTokenMiddleware`` exempts requests that carry an Authorization header.
    """

    schema = schema

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            schema=schema, graphql_ide="graphiql" if settings.GRAPHIQL_ENABLED else None
        )
