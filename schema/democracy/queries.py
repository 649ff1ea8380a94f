from __future__ import annotations

from collections.abc import Iterable

import strawberry
import strawberry_django
from strawberry.relay import GlobalIDValueError
from strawberry_django.relay import DjangoListConnection

from core.errors import DomainError
from democracy import models, selectors
from schema.context import Info, current_user, decode_pk
from schema.democracy.types import CommunityType, DecisionType


def _pk_or_none(raw_id: str, type_name: str) -> int:
    try:
        return decode_pk(raw_id, type_name=type_name, field="id")
    except (DomainError, GlobalIDValueError):
        return 0  # No row has primary key 0: the lookup finds nothing.


@strawberry.type
class DemocracyQuery:
    @strawberry_django.connection(DjangoListConnection[CommunityType])
    def communities(self) -> Iterable[models.Community]:
        return selectors.community_list()

    @strawberry_django.field
    def community(self, id: strawberry.ID) -> CommunityType | None:
        pk = _pk_or_none(id, "Community")
        return selectors.community_list().filter(pk=pk).first()  # type: ignore[return-value]

    @strawberry_django.field
    def decision(self, info: Info, id: strawberry.ID) -> DecisionType | None:
        pk = _pk_or_none(id, "Decision")
        visible = selectors.decision_list_visible(current_user(info))
        return visible.filter(pk=pk).first()  # type: ignore[return-value]
