"""The CrowdVote GraphQL schema: one Query, Mutation and Subscription merged from the apps."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, cast

import strawberry
import strawberry_django
from django.conf import settings
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.relay import GlobalID, GlobalIDValueError, Node
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.cast import cast as strawberry_cast
from strawberry_django.optimizer import DjangoOptimizerExtension

from schema.accounts.mutations import AccountsMutation
from schema.accounts.queries import AccountsQuery
from schema.calc.mutations import CalcMutation
from schema.calc.my_ballot import MyBallotSubscription
from schema.calc.subscriptions import CalcSubscription
from schema.client_errors import ClientErrors
from schema.context import Info, global_pk
from schema.democracy.mutations import DemocracyMutation
from schema.democracy.queries import DemocracyQuery
from schema.error_log import CrowdVoteSchema
from schema.limits import cost_rule
from schema.scalars import DECIMAL


@strawberry.type
class NodeQuery:
    @strawberry_django.field  # runs off the event loop when executed async (websockets)
    def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The ID of the object.")],
    ) -> Node | None:
        """Return the object behind a global ID; None for an unknown, malformed or hidden one.

        Only IDs that ``global_pk`` accepts reach the database, as with ``decision(id:)``.
        """
        try:
            global_id = GlobalID.from_id(id)
            node_type = global_id.resolve_type(info)
        except GlobalIDValueError:
            return None
        if global_pk(id, type_name=global_id.type_name) is None:
            return None
        node = node_type.resolve_node(global_id.node_id, info=info, required=False)
        return cast("Node | None", strawberry_cast(node_type, node) if node is not None else None)


Query = merge_types("Query", (NodeQuery, AccountsQuery, DemocracyQuery))
Mutation = merge_types("Mutation", (AccountsMutation, DemocracyMutation, CalcMutation))
Subscription = merge_types("Subscription", (CalcSubscription, MyBallotSubscription))

# The limits' validation rules are built once: rules rebuilt per request would change the
# validation cache's key and defeat it.
LIMITS = [
    *QueryDepthLimiter(max_depth=settings.GRAPHQL_MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=settings.GRAPHQL_MAX_ALIASES).validation_rules,
    cost_rule(max_cost=settings.GRAPHQL_MAX_COST, page_size=settings.GRAPHQL_MAX_PAGE_SIZE),
]

schema = CrowdVoteSchema(
    config=StrawberryConfig(
        scalar_map={Decimal: DECIMAL}, relay_max_results=settings.GRAPHQL_MAX_PAGE_SIZE
    ),
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        # First, so that its hook sees the result last: every error leaves with a code.
        ClientErrors,
        # The parser stops at the limit: a huge document costs no more than a small one.
        lambda: MaxTokensLimiter(max_token_count=settings.GRAPHQL_MAX_TOKENS),
        # Clients send the same few documents again and again: parse and validate each once.
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        DjangoOptimizerExtension,
        lambda: AddValidationRules(LIMITS),
    ],
)
