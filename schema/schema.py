"""The CrowdVote GraphQL schema: one Query, Mutation and Subscription merged from the apps."""

from __future__ import annotations

from decimal import Decimal

import strawberry
import strawberry_django
from django.conf import settings
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.relay import Node
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry_django.optimizer import DjangoOptimizerExtension

from schema.accounts.mutations import AccountsMutation
from schema.accounts.queries import AccountsQuery
from schema.calc.mutations import CalcMutation
from schema.calc.subscriptions import CalcSubscription
from schema.democracy.mutations import DemocracyMutation
from schema.democracy.queries import DemocracyQuery
from schema.scalars import DECIMAL


@strawberry.type
class NodeQuery:
    node: Node | None = strawberry_django.node()


Query = merge_types("Query", (NodeQuery, AccountsQuery, DemocracyQuery))
Mutation = merge_types("Mutation", (AccountsMutation, DemocracyMutation, CalcMutation))
Subscription = merge_types("Subscription", (CalcSubscription,))

schema = strawberry.Schema(
    config=StrawberryConfig(scalar_map={Decimal: DECIMAL}),
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        DjangoOptimizerExtension,
        lambda: QueryDepthLimiter(max_depth=settings.GRAPHQL_MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=settings.GRAPHQL_MAX_ALIASES),
    ],
)
