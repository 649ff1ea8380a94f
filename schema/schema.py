"""The CrowdVote GraphQL schema: one Query, Mutation and Subscription merged from the apps."""

from __future__ import annotations

from decimal import Decimal

import strawberry
import strawberry_django
from django.conf import settings
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.relay import Node
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry_django.optimizer import DjangoOptimizerExtension

from schema.accounts.mutations import AccountsMutation
from schema.accounts.queries import AccountsQuery
from schema.calc.mutations import CalcMutation
from schema.calc.my_ballot import MyBallotSubscription
from schema.calc.subscriptions import CalcSubscription
from schema.democracy.mutations import DemocracyMutation
from schema.democracy.queries import DemocracyQuery
from schema.scalars import DECIMAL


@strawberry.type
class NodeQuery:
    node: Node | None = strawberry_django.node()


Query = merge_types("Query", (NodeQuery, AccountsQuery, DemocracyQuery))
Mutation = merge_types("Mutation", (AccountsMutation, DemocracyMutation, CalcMutation))
Subscription = merge_types("Subscription", (CalcSubscription, MyBallotSubscription))

# The limits' validation rules are built once: rules rebuilt per request would change the
# validation cache's key and defeat it.
LIMITS = [
    *QueryDepthLimiter(max_depth=settings.GRAPHQL_MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=settings.GRAPHQL_MAX_ALIASES).validation_rules,
]

schema = strawberry.Schema(
    config=StrawberryConfig(scalar_map={Decimal: DECIMAL}),
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        # Clients send the same few documents again and again: parse and validate each once.
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        DjangoOptimizerExtension,
        lambda: AddValidationRules(LIMITS),
    ],
)
