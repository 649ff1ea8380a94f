"""Who may call a field, declared on the field and checked before its resolver runs."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from core.errors import NotAuthenticated
from schema.context import Info, current_user
from schema.errors import graphql_error


class IsSignedIn(BasePermission):
    """The caller must be signed in; else the GraphQL error ``UNAUTHENTICATED``.

    The error is the one a service's ``NotAuthenticated`` becomes, so a client sees one
    error whichever layer refused it.
    """

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return current_user(info).is_authenticated

    def on_unauthorized(self) -> None:
        raise graphql_error(NotAuthenticated())
