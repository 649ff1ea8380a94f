"""The HTTP GraphQL endpoint."""

from __future__ import annotations

from django.conf import settings
from strawberry.django.views import GraphQLView

from schema.schema import schema


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
