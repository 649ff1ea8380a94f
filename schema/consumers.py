"""The websocket GraphQL endpoint (``graphql-transport-ws`` and ``graphql-ws``)."""

from __future__ import annotations

from strawberry.channels import GraphQLWSConsumer

from schema.schema import schema


class GraphQLSubscriptionConsumer(GraphQLWSConsumer):
    def __init__(self) -> None:
        super().__init__(schema=schema)
