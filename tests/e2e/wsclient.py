"""A small GraphQL websocket client for end-to-end tests (both sub-protocols)."""

from __future__ import annotations

from devtools.benchsetup import LEGACY_WS, TRANSPORT_WS, GraphQLSocket

__all__ = ["LEGACY_WS", "TRANSPORT_WS", "GraphQLSocket"]
