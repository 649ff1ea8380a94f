"""Connections over a model relation, which the optimizer prefetches for a whole page.

A connection whose resolver builds its own queryset is opaque to strawberry_django's
optimizer: a page of communities would then read each one's decisions with queries of its
own. ``relation_connection`` names the relation instead, so one windowed query fetches the
page of every parent at once. Its narrowing (from the field's arguments) happens in the
field's ``get_queryset``, which the optimizer's prefetch and a direct read both go through,
and the node type's ``get_queryset`` adds what the viewer may see: what they may not see
is simply absent, so a list is never refused because of one of its items.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import strawberry_django
from django.db.models import Q, QuerySet
from strawberry_django.fields.field import StrawberryDjangoField
from strawberry_django.optimizer import is_optimized_by_prefetching

from schema.context import Info

ResolverT = TypeVar("ResolverT", bound=Callable[..., Any])


def _narrowed_field(where: Callable[..., Q]) -> type[StrawberryDjangoField]:
    class NarrowedField(StrawberryDjangoField):
        def get_queryset(self, queryset: QuerySet[Any], info: Info, **kwargs: Any) -> Any:
            # A prefetched page was narrowed when the optimizer built it.
            if not is_optimized_by_prefetching(queryset):
                queryset = queryset.filter(where(**kwargs))
            return super().get_queryset(queryset, info, **kwargs)

    return NarrowedField


def relation_connection(
    connection_type: Any, *, relation: str, where: Callable[..., Q] = lambda **_: Q()
) -> Callable[[ResolverT], Any]:
    """Return a decorator making a connection over ``relation`` of its parent model.

    The decorated resolver declares the field's arguments and returns the relation's
    ``.all()``; ``where(**arguments)`` returns the filter those arguments mean.
    """

    def decorate(resolver: ResolverT) -> Any:
        # Lets the optimizer treat the field as the plain relation it reads (an attribute
        # strawberry-django reads off the function, which the type of a callable lacks).
        resolver.can_optimize = True  # type: ignore[attr-defined]
        return strawberry_django.connection(
            connection_type, field_cls=_narrowed_field(where), field_name=relation
        )(resolver)

    return decorate
