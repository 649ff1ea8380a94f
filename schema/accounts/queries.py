from __future__ import annotations

import strawberry
import strawberry_django

from schema.accounts.types import UserType
from schema.context import Info, current_user


@strawberry.type
class AccountsQuery:
    @strawberry_django.field
    def me(self, info: Info) -> UserType | None:
        user = current_user(info)
        return user if user.is_authenticated else None  # type: ignore[return-value]
