"""What one GraphQL request may ask for: its document's size, depth, aliases, tokens and
cost, and its variables' lists.

Each limit refuses the whole request before anything runs, so any request is answered or
refused within a bounded amount of work, signed in or not. The document's refusals carry
``extensions.code`` ``QUERY_TOO_COMPLEX`` (``schema.client_errors``), the variables'
``BAD_USER_INPUT``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

# A list that is not a connection has no page size; this many items is the estimate.
LIST_SIZE = 10
PAGE_ARGUMENTS = ("first", "last")
# The fields of a connection that hold its items; the others are about the whole list.
ITEM_FIELDS = {"edges", "nodes"}
# Introspection is answered from memory (the standard query, ~280,000 values by this
# count, takes 70 ms) and graphql-core's own rule bounds its nesting: it costs 1.
INTROSPECTION = {"__schema", "__type"}
# Variables: an input object holding a list of input objects is three levels deep.
MAX_VARIABLE_DEPTH = 8


def document_refusal(query: object) -> str | None:
    """Return why a document is refused before it is parsed, or None if it may be."""
    if not isinstance(query, str):
        return None  # The view or the protocol handler refuses it as it stands.
    limit = settings.GRAPHQL_MAX_DOCUMENT_BYTES
    # Characters first: most documents are far below, and counting bytes copies them.
    if len(query) <= limit // 4 or len(query.encode("utf-8", "surrogatepass")) <= limit:
        return None
    return (
        f"The document is too long: more than {limit:,} bytes (GRAPHQL_MAX_DOCUMENT_BYTES). "
        "Remove comments and unused fragments, or split it into several operations."
    )


def variables_refusal(variables: object) -> str | None:
    """Return why variables are refused before they are coerced, or None if they may be.

    A list longer than ``GRAPHQL_MAX_LIST_ITEMS`` anywhere in them, or nesting deeper than
    the deepest input of the schema could use, is refused.
    """
    limit = settings.GRAPHQL_MAX_LIST_ITEMS
    pending: list[tuple[Any, int]] = [(variables, 0)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_VARIABLE_DEPTH:
            return f"The variables nest deeper than {MAX_VARIABLE_DEPTH} levels."
        if isinstance(value, Mapping):
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            if len(value) > limit:
                return (
                    f"A list in the variables has {len(value):,} items, more than "
                    f"{limit:,} (GRAPHQL_MAX_LIST_ITEMS)."
                )
            pending.extend((item, depth + 1) for item in value)
    return None


def cost_rule(*, max_cost: int, page_size: int) -> type[ValidationRule]:
    """Return a rule refusing documents whose cost exceeds ``max_cost``.

    Each field costs 1, and the fields inside a list count once per expected item: the
    ``first``/``last`` items of a connection's ``edges`` (``page_size`` when not a
    literal; ``totalCount`` and ``pageInfo`` count once), or ``LIST_SIZE`` for any other
    list. A document's cost is that of its dearest operation.
    """

    class CostLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            counter = _Counter(context, page_size=page_size)
            operations = [
                d for d in context.document.definitions if isinstance(d, OperationDefinitionNode)
            ]
            cost = max((counter.operation(op) for op in operations), default=0)
            if cost > max_cost:
                context.report_error(
                    GraphQLError(
                        f"The query is too costly: it may return about {cost:,} values, "
                        f"more than the limit of {max_cost:,} (GRAPHQL_MAX_COST). Ask for "
                        "fewer fields or smaller pages (first:), or split it into several "
                        "queries.",
                        extensions={"code": "QUERY_TOO_COMPLEX"},
                    )
                )

    return CostLimit


class _Counter:
    def __init__(self, context: ValidationContext, *, page_size: int) -> None:
        self.schema: GraphQLSchema = context.schema
        self.page_size = page_size
        self.fragments = {
            d.name.value: d
            for d in context.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        self.fragment_costs: dict[str, int] = {}
        self.visiting: set[str] = set()

    def operation(self, operation: OperationDefinitionNode) -> int:
        root = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }[operation.operation]
        return self.selections(operation.selection_set, root)

    def selections(self, selection_set: SelectionSetNode | None, parent: object) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selections(selection.selection_set, inner)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
        return total

    def fragment(self, name: str) -> int:
        if name in self.fragment_costs:
            return self.fragment_costs[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.visiting:
            return 0  # unknown fragments and cycles are refused by the standard rules
        self.visiting.add(name)
        cost = self.selections(
            definition.selection_set, self.schema.get_type(definition.type_condition.name.value)
        )
        self.visiting.discard(name)
        self.fragment_costs[name] = cost
        return cost

    def field(self, node: FieldNode, parent: object) -> int:
        name = node.name.value
        fields = (
            parent.fields if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) else {}
        )
        definition = fields.get(name)
        if name in INTROSPECTION or name == "__typename":
            return 1
        if definition is None:
            # A union's field, or an unknown one: count it plainly.
            return 1 + self.selections(node.selection_set, None)
        items = self._items(node, definition, parent_name=getattr(parent, "name", ""))
        inner = _named(definition.type)
        if items != 1 and _is_connection(definition) and node.selection_set is not None:
            # Only a page's items repeat; ``totalCount`` and ``pageInfo`` are read once.
            return 1 + sum(
                (items if _is_item_field(selection) else 1)
                * self.selections(SelectionSetNode(selections=(selection,)), inner)
                for selection in node.selection_set.selections
            )
        return 1 + items * self.selections(node.selection_set, inner)

    def _items(self, node: FieldNode, definition: GraphQLField, *, parent_name: str) -> int:
        if _is_connection(definition):
            for argument in node.arguments or ():
                value = argument.value
                if argument.name.value not in PAGE_ARGUMENTS:
                    continue
                if isinstance(value, IntValueNode) and len(value.value) < 10:
                    return max(0, min(int(value.value), self.page_size))
            return self.page_size  # no page size given, or a variable: the largest page
        if _is_list(definition.type):
            # A connection's ``edges`` were counted by the connection's page size.
            return 1 if parent_name.endswith("Connection") else LIST_SIZE
        return 1


def _is_connection(definition: GraphQLField) -> bool:
    return any(name in definition.args for name in PAGE_ARGUMENTS)


def _is_item_field(selection: object) -> bool:
    """Say whether a selection of a connection repeats per item (fragments: assume so)."""
    return not isinstance(selection, FieldNode) or selection.name.value in ITEM_FIELDS


def _unwrap(type_: object) -> object:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _is_list(type_: object) -> bool:
    return isinstance(_unwrap(type_), GraphQLList)


def _named(type_: object) -> GraphQLNamedType | None:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_ if isinstance(type_, GraphQLNamedType) else None
