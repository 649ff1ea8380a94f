from __future__ import annotations

from collections.abc import Iterable

import strawberry
import strawberry_django
from strawberry_django.relay import DjangoListConnection

from democracy import models, selectors
from schema.context import Info, current_user, global_pk
from schema.democracy.decision import DecisionType
from schema.democracy.types import CommunityType


@strawberry.type
class DemocracyQuery:
    @strawberry_django.connection(DjangoListConnection[CommunityType])
    def communities(self) -> Iterable[models.Community]:
        return selectors.community_list()

    @strawberry_django.field(graphql_type=CommunityType | None)
    def community(self, id: strawberry.ID) -> models.Community | None:
        pk = global_pk(id, type_name="Community")
        return None if pk is None else selectors.community_list().filter(pk=pk).first()

    @strawberry_django.field(graphql_type=DecisionType | None)
    def decision(self, info: Info, id: strawberry.ID) -> models.Decision | None:
        pk = global_pk(id, type_name="Decision")
        if pk is None:
            return None
        return selectors.decision_list_visible(current_user(info)).filter(pk=pk).first()
