"""Fixtures shared by sign-in tests."""

from tests.accounts.support import logs  # noqa: F401
