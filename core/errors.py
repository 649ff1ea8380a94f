"""Errors the services raise and the API turns into ``UserError`` or a GraphQL error."""

from __future__ import annotations

from enum import StrEnum


class DomainError(Exception):
    """Bad input: the API answers with ``UserError(code, field, message)`` and changes nothing."""

    def __init__(self, code: StrEnum, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message


class NotAuthenticated(Exception):
    """The caller must sign in first (``extensions.code`` ``UNAUTHENTICATED``)."""

    def __init__(
        self, message: str = "Sign in first: send 'Authorization: Bearer <token>'."
    ) -> None:
        super().__init__(message)


class Forbidden(Exception):
    """The caller is signed in but may not do this (``extensions.code`` ``FORBIDDEN``)."""
