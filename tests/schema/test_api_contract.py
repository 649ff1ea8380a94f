"""The exported schema keeps every name, type and argument docs/api.md promises clients."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
)

CONTRACT = Path(__file__).with_name("api_contract.graphql")

PENDING_TYPES: set[str] = set()
PENDING_FIELDS: set[tuple[str, str]] = set()


@pytest.fixture(scope="module")
def exported() -> GraphQLSchema:
    out = StringIO()
    call_command("export_schema", stdout=out)
    return build_schema(out.getvalue())


@pytest.fixture(scope="module")
def contract() -> GraphQLSchema:
    return build_schema(CONTRACT.read_text())


def contract_members() -> list[tuple[str, str | None]]:
    contract = build_schema(CONTRACT.read_text())
    members: list[tuple[str, str | None]] = []
    for name, graphql_type in contract.type_map.items():
        if name.startswith("__") or name in PENDING_TYPES:
            continue
        members.append((name, None))
        if isinstance(graphql_type, (GraphQLObjectType, GraphQLInterfaceType)):
            members += [(name, field) for field in graphql_type.fields]
        if isinstance(graphql_type, GraphQLInputObjectType):
            members += [(name, field) for field in graphql_type.fields]
        if isinstance(graphql_type, GraphQLEnumType):
            members += [(name, value) for value in graphql_type.values]
    return [member for member in members if member not in PENDING_FIELDS]


@pytest.mark.parametrize(("type_name", "member"), contract_members())
def test_exported_schema_has_contract_name(
    exported: GraphQLSchema, contract: GraphQLSchema, type_name: str, member: str | None
) -> None:
    ours = exported.type_map.get(type_name)
    assert ours is not None, f"type {type_name} is missing"
    theirs = contract.type_map[type_name]
    assert type(ours) is type(theirs), f"{type_name} is a {type(ours).__name__}"
    if member is None:
        return
    if isinstance(theirs, GraphQLEnumType):
        assert member in ours.values  # type: ignore[attr-defined]
        return
    field = ours.fields.get(member)  # type: ignore[attr-defined]
    assert field is not None, f"{type_name}.{member} is missing"
    expected = theirs.fields[member]  # type: ignore[attr-defined]
    assert str(field.type) == str(expected.type), f"{type_name}.{member}: {field.type}"
    for argument, spec in getattr(expected, "args", {}).items():
        assert argument in field.args, f"{type_name}.{member}({argument}:) is missing"
        assert str(field.args[argument].type) == str(spec.type)


def test_node_interface_is_implemented_by_every_contract_node(exported: GraphQLSchema) -> None:
    for name in ("User", "Community", "Membership", "Decision", "Choice"):
        interfaces = [i.name for i in exported.type_map[name].interfaces]  # type: ignore[attr-defined]
        assert "Node" in interfaces, name
