"""Log each GraphQL error once: expected ones as one event line, others with a traceback.

A refused or malformed request (FORBIDDEN, UNAUTHENTICATED, an unknown ID, a query that does
not validate) is the client's business: the server logs one line for the operator to
count. Anything else is a bug, and strawberry logs it with its traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from graphql import GraphQLError

from core.errors import DomainError, Forbidden, NotAuthenticated
from core.logs import Event, log_event
from schema.client_errors import CodedSchema
from schema.context import context_user

if TYPE_CHECKING:
    from strawberry.types import ExecutionContext

EXPECTED = (GraphQLError, DomainError, NotAuthenticated, Forbidden, ValidationError)


def is_expected(error: GraphQLError) -> bool:
    """An error the API raised on purpose, or one in the document itself (no resolver ran)."""
    return error.original_error is None or isinstance(error.original_error, EXPECTED)


def describe(error: GraphQLError) -> str:
    """Return one line: the code (if any), where, and the message."""
    code = (error.extensions or {}).get("code")
    where = ".".join(str(part) for part in error.path) if error.path else None
    head = " ".join(str(part) for part in (code, f"at {where}" if where else None) if part)
    message = " ".join(error.message.split())
    return f"{head}: {message}" if head else message


def actor_of(execution_context: ExecutionContext | None) -> str:
    context = execution_context.context if execution_context is not None else None
    if context is None:
        return "-"
    user = context_user(context)
    return user.get_username() if user.is_authenticated else "-"


class CrowdVoteSchema(CodedSchema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        unexpected = [error for error in errors if not is_expected(error)]
        for error in errors:
            if is_expected(error):
                log_event(Event.REQUEST_REFUSED, actor_of(execution_context), describe(error))
        super().process_errors(unexpected, execution_context)
