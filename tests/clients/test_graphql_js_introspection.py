"""graphql-js builds the served schema from introspection: valid, and the exported schema."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from graphql import build_schema, lexicographic_sort_schema, print_schema

from tests.clients.conftest import Server

pytestmark = pytest.mark.e2e


def sorted_sdl(sdl: str) -> str:
    return print_schema(lexicographic_sort_schema(build_schema(sdl)))


def test_introspected_schema_is_valid_and_the_exported_one(server: Server, node: str) -> None:
    seen = server.client(node, "introspection")
    exported = StringIO()
    call_command("export_schema", stdout=exported)

    assert seen["schemaErrors"] == []
    assert all(errors == [] for errors in seen["documentErrors"].values()), seen["documentErrors"]
    assert sorted_sdl(seen["sdl"]) == sorted_sdl(exported.getvalue())
