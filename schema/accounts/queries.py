from __future__ import annotations

import strawberry
import strawberry_django

from accounts.models import User
from schema.accounts.types import UserType
from schema.context import Info, current_user


@strawberry.type
class AccountsQuery:
    @strawberry_django.field(graphql_type=UserType | None)
    def me(self, info: Info) -> User | None:
        user = current_user(info)
        return user if user.is_authenticated else None
