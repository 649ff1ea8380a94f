"""GraphQL types of users."""

from __future__ import annotations

import strawberry_django
from django.db.models import QuerySet
from strawberry import relay

from accounts import models
from schema.context import Info, current_user
from schema.democracy.types import MembershipType


@strawberry_django.type(models.User, name="User")
class UserType(relay.Node):
    username: str
    memberships: list[MembershipType]

    @classmethod
    def get_queryset(
        cls, queryset: QuerySet[models.User], info: Info, **kwargs: object
    ) -> QuerySet[models.User]:
        """Users are private: each sees only themself."""
        user = current_user(info)
        return queryset.filter(pk=user.pk) if user.is_authenticated else queryset.none()
