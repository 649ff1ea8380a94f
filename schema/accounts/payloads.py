"""Payloads of the sign-in mutations."""

from __future__ import annotations

import strawberry

from accounts.models import User
from schema.accounts.types import UserType
from schema.errors import UserError


@strawberry.type(description="The signed-in user and an API bearer token, shown only once.")
class AuthPayload:
    token: str | None = strawberry.field(
        default=None, description="Send as `Authorization: Bearer <token>`; it is not shown again."
    )
    user: User | None = strawberry.field(default=None, graphql_type=UserType | None)
    errors: list[UserError] = strawberry.field(default_factory=list)
