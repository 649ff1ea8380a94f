"""Every GraphQL error a client sees carries ``extensions.code`` and a message for them.

Errors the API raises on purpose already have a code (``UNAUTHENTICATED``, ``FORBIDDEN``,
the limits' ``QUERY_TOO_COMPLEX``). The rest get one here: documents that do not parse or
validate, variables of the wrong type, bad pagination arguments. Anything else is a bug:
its text is replaced by a generic message with ``INTERNAL_ERROR`` (unless ``DEBUG``), and
its traceback goes to the log (``CodedSchema.process_errors``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from enum import StrEnum
from pathlib import PurePath
from typing import Any

import strawberry
from django.conf import settings
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.execution import PreExecutionError

ERROR_LOGGER = logging.getLogger("crowdvote.graphql")
INTERNAL_MESSAGE = "Something went wrong on our side. Try again later."
PAGINATION_MESSAGE = (
    "The page arguments are not valid: 'first' must be 0 to {limit} and 'after' a cursor "
    "from this list's pageInfo."
)
# Where strawberry reads page arguments and cursors: what they raise is the client's doing.
PAGINATION_FRAMES = {
    (("strawberry", "relay", "utils.py"), "from_arguments"),
    (("strawberry", "relay", "utils.py"), "from_base64"),
}


class ClientErrorCode(StrEnum):
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    INTERNAL_ERROR = "INTERNAL_ERROR"


def _from_pagination(error: Exception) -> bool:
    """Return whether ``error`` was raised reading a page argument or a cursor."""
    traceback = error.__traceback__
    if traceback is None:
        return False
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    code = traceback.tb_frame.f_code
    return (PurePath(code.co_filename).parts[-3:], code.co_name) in PAGINATION_FRAMES


def _refused_document(error: GraphQLError) -> tuple[ClientErrorCode, str]:
    """Return the code and message of an error found before anything ran."""
    message = error.message
    if "Parsing aborted" in message and "tokens" in message:
        limit = settings.GRAPHQL_MAX_TOKENS
        return ClientErrorCode.QUERY_TOO_COMPLEX, (
            f"The document is too long: it has more than {limit:,} tokens (GRAPHQL_MAX_TOKENS)."
        )
    if "exceeds maximum operation depth" in message or "aliases found. Allowed" in message:
        return ClientErrorCode.QUERY_TOO_COMPLEX, message
    if isinstance(error, GraphQLSyntaxError):
        return ClientErrorCode.GRAPHQL_PARSE_FAILED, message
    coercion = ("has invalid value", "got invalid value", "was not provided", "must not be null")
    if message.startswith("Variable '$") and any(part in message for part in coercion):
        return ClientErrorCode.BAD_USER_INPUT, message
    return ClientErrorCode.GRAPHQL_VALIDATION_FAILED, message


def coded(error: GraphQLError) -> GraphQLError:
    """Return ``error`` with a code and a message written for the client."""
    if (error.extensions or {}).get("code"):
        return error
    # Follow the chain of GraphQL errors to the exception that caused it, if any.
    original = error.original_error
    while isinstance(original, GraphQLError):
        if (original.extensions or {}).get("code"):
            break
        original = original.original_error
    if isinstance(original, GraphQLError):
        code, message = (original.extensions or {})["code"], original.message
    elif original is None:
        code, message = _refused_document(error)
    elif isinstance(original, ValueError | TypeError) and _from_pagination(original):
        code = ClientErrorCode.BAD_USER_INPUT
        # "Argument 'first' cannot be higher than 100." is for clients; int() errors are not.
        written = str(original).startswith("Argument '")
        limit = settings.GRAPHQL_MAX_PAGE_SIZE
        message = str(original) if written else PAGINATION_MESSAGE.format(limit=limit)
    elif settings.DEBUG:
        code, message = ClientErrorCode.INTERNAL_ERROR, error.message
    else:
        code, message = ClientErrorCode.INTERNAL_ERROR, INTERNAL_MESSAGE
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={**(error.extensions or {}), "code": str(code)},
    )


def coded_all(errors: list[GraphQLError] | None) -> list[GraphQLError] | None:
    return [coded(error) for error in errors] if errors else errors


class ClientErrors(SchemaExtension):
    """Give every error of a result a code; mask unexpected ones."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = coded_all(result.errors)


class CodedSchema(strawberry.Schema):
    """A schema whose streamed results carry codes too, and that logs only its faults.

    ``ClientErrors`` cannot see errors raised before the operation's hooks run, such as a
    document over the token limit, which the parser cache raises; over HTTP the view codes
    them, and here each streamed result (websocket subscriptions) is coded and such an
    error becomes a refusal.

    Strawberry logs every error with its document; a refused 200 KB document would flood
    the log. The client's mistakes are in their answer; the log gets the server's faults,
    each with its traceback.
    """

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if (coded(error).extensions or {}).get("code") == ClientErrorCode.INTERNAL_ERROR:
                cause = error.original_error or error
                ERROR_LOGGER.error(
                    "Unexpected error in %s: %s: %s",
                    ".".join(str(key) for key in error.path or ()) or "the operation",
                    type(cause).__name__,
                    cause,
                    exc_info=(type(cause), cause, cause.__traceback__),
                )

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        return _coded(await super().stream(*args, **kwargs))


async def _coded(source: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    first = True
    try:
        while True:
            try:
                result = await anext(source)
            except StopAsyncIteration:
                return
            except GraphQLError as error:
                if not first:
                    raise
                yield PreExecutionError(data=None, errors=[coded(error)])
                return
            first = False
            if getattr(result, "errors", None):
                result.errors = coded_all(result.errors)
            yield result
    finally:
        # Ending the subscription ends the source too (it leaves its channel group).
        close = getattr(source, "aclose", None)
        if close is not None:
            await close()
