"""What resolvers need from a request: the user, and objects behind global IDs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import strawberry
from django.contrib.auth.models import AnonymousUser
from django.db.models import Model, QuerySet
from strawberry.relay import GlobalID, GlobalIDValueError

from core.errors import NotAuthenticated
from schema.errors import not_found

if TYPE_CHECKING:
    from accounts.models import User

Info: TypeAlias = strawberry.Info[Any, None]
ModelT = TypeVar("ModelT", bound=Model)
MAX_PK = 2**63 - 1
MAX_PK_DIGITS = len(str(MAX_PK))


def current_user(info: Info) -> User | AnonymousUser:
    """Return the signed-in user of an HTTP request or a websocket connection."""
    return context_user(info.context)


def context_user(context: Any) -> User | AnonymousUser:
    """Return the signed-in user of an operation's context (HTTP or websocket)."""
    request = context.get("request") if isinstance(context, dict) else context.request
    user = getattr(request, "user", None)
    if user is None:
        scope = getattr(request, "scope", None) or {}
        user = scope.get("user")
    return user if user is not None else AnonymousUser()


def signed_in_user(info: Info) -> User:
    """Return the signed-in user, or raise ``NotAuthenticated``.

    Fields that need a user declare ``IsSignedIn`` (``schema.permissions``), which refuses
    anonymous callers before the resolver runs; here the resolver gets the user, typed.
    """
    user = current_user(info)
    if not user.is_authenticated:
        raise NotAuthenticated()
    return user


def global_pk(raw_id: str, *, type_name: str) -> int | None:
    """Return the primary key inside a global ID of ``type_name``, or None for any other text.

    The one decoder of the API's IDs: the widget's URLs use it too, so both accept the same.
    """
    try:
        global_id = GlobalID.from_id(raw_id)
    except GlobalIDValueError:
        return None
    node_id = global_id.node_id
    # ASCII digits only: str.isdigit() and int() also take "²" and "٣", which would alias
    # IDs or fail. Beyond a 64-bit key no row exists, and the database cannot compare it.
    if global_id.type_name != type_name or not (node_id.isascii() and node_id.isdigit()):
        return None
    pk = int(node_id) if len(node_id) <= MAX_PK_DIGITS else MAX_PK + 1
    return pk if pk <= MAX_PK else None


def decode_pk(raw_id: str, *, type_name: str, field: str) -> int:
    """Return the primary key inside a global ID of ``type_name``, or raise ``INVALID_ID``."""
    pk = global_pk(raw_id, type_name=type_name)
    if pk is None:
        raise not_found(field, type_name.lower())
    return pk


def load(queryset: QuerySet[ModelT], raw_id: str, *, type_name: str, field: str) -> ModelT:
    """Return the object of ``queryset`` behind a global ID, or raise ``INVALID_ID``."""
    pk = decode_pk(raw_id, type_name=type_name, field=field)
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise not_found(field, type_name.lower())
    return obj
