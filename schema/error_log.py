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
# Their arguments are a sign-in code or an email address: refusals echo argument values
# ("String cannot represent a non string value: cvl_…"), so their messages are not logged.
SECRET_ARGUMENT_FIELDS = ("signInWithMagicLink", "requestMagicLink")
WITHHELD = "(message left out: a sign-in request's arguments are not logged)"


def is_expected(error: GraphQLError) -> bool:
    """An error the API raised on purpose, or one in the document itself (no resolver ran)."""
    return error.original_error is None or isinstance(error.original_error, EXPECTED)


def describe(error: GraphQLError, *, withhold: bool = False) -> str:
    """Return one line: the code (if any), where, and the message (unless ``withhold``)."""
    code = (error.extensions or {}).get("code")
    where = ".".join(str(part) for part in error.path) if error.path else None
    head = " ".join(str(part) for part in (code, f"at {where}" if where else None) if part)
    message = WITHHELD if withhold else " ".join(error.message.split())
    return f"{head}: {message}" if head else message


def names_sign_in(execution_context: ExecutionContext | None) -> bool:
    """Whether the request's document names a mutation whose arguments are secret.

    The document, not the error's path: a document that does not validate has no path, and
    an alias would hide the field's name in one.
    """
    query = execution_context.query if execution_context is not None else None
    return query is not None and any(name in query for name in SECRET_ARGUMENT_FIELDS)


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
        withhold = names_sign_in(execution_context)
        for error in errors:
            if is_expected(error):
                line = describe(error, withhold=withhold)
                log_event(Event.REQUEST_REFUSED, actor_of(execution_context), line)
        super().process_errors(unexpected, execution_context)
