"""``UserError`` payload entries, and the one wrapper that turns service errors into them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import nullcontext
from enum import StrEnum
from typing import ParamSpec, Protocol, TypeVar

import strawberry
from django.core.exceptions import ValidationError
from django.db import transaction
from graphql import GraphQLError

from core.errors import DomainError, Forbidden, NotAuthenticated

P = ParamSpec("P")


class ErrorCode(StrEnum):
    INVALID_ID = "INVALID_ID"
    INVALID = "INVALID"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    STREAM_REQUIRED = "STREAM_REQUIRED"
    HTTP_ONLY = "HTTP_ONLY"
    TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
    SUBSCRIPTIONS_ONLY = "SUBSCRIPTIONS_ONLY"


@strawberry.type(description="Bad input: nothing was changed. Match on `code`, show `message`.")
class UserError:
    code: str
    field: str | None
    message: str


class Payload(Protocol):
    errors: list[UserError]


PayloadT = TypeVar("PayloadT", bound=Payload)


def camel(name: str) -> str:
    """Return a snake_case model field name as the camelCase API field name."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def user_errors_of(error: ValidationError) -> list[UserError]:
    """Return one ``UserError`` per message of a Django ``ValidationError``."""
    if hasattr(error, "error_dict"):
        return [
            UserError(code=(item.code or "invalid").upper(), field=camel(field), message=message)
            for field, items in error.error_dict.items()
            for item in items
            for message in item.messages
        ]
    return [
        UserError(code=(item.code or "invalid").upper(), field=None, message=message)
        for item in error.error_list
        for message in item.messages
    ]


def graphql_error(error: NotAuthenticated | Forbidden) -> GraphQLError:
    """Return the GraphQL error for a missing sign-in or permission."""
    code = ErrorCode.UNAUTHENTICATED if isinstance(error, NotAuthenticated) else ErrorCode.FORBIDDEN
    return GraphQLError(str(error), extensions={"code": code.value})


def mutation_payload(
    payload: Callable[..., PayloadT], *, atomic: bool = True
) -> Callable[[Callable[P, PayloadT]], Callable[P, PayloadT]]:
    """Run a mutation in one transaction; bad input becomes ``payload(errors=[…])``.

    Anything raised rolls the whole mutation back, so a ``UserError`` always means that
    nothing changed. Missing sign-in or permission becomes a GraphQL error instead.
    Not ``atomic``: the one service the mutation calls owns the transaction (a cast).
    """

    def decorate(resolver: Callable[P, PayloadT]) -> Callable[P, PayloadT]:
        @functools.wraps(resolver)
        def run(*args: P.args, **kwargs: P.kwargs) -> PayloadT:
            try:
                with transaction.atomic() if atomic else nullcontext():
                    return resolver(*args, **kwargs)
            except DomainError as error:
                return payload(
                    errors=[
                        UserError(code=str(error.code), field=error.field, message=error.message)
                    ]
                )
            except ValidationError as error:
                return payload(errors=user_errors_of(error))
            except (NotAuthenticated, Forbidden) as error:
                raise graphql_error(error) from error

        return run

    return decorate


def not_found(field: str, what: str) -> DomainError:
    """Return the error for an ID that is malformed, foreign or unknown."""
    return DomainError(
        ErrorCode.INVALID_ID, f"No {what} has this ID, or you cannot see it.", field=field
    )
