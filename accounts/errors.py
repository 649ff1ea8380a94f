"""Stable error codes and messages of sign-in."""

from __future__ import annotations

from enum import StrEnum


class AccountErrorCode(StrEnum):
    INVALID_EMAIL = "INVALID_EMAIL"
    RATE_LIMITED = "RATE_LIMITED"
    INVALID_TOKEN = "INVALID_TOKEN"
    EXPIRED_TOKEN = "EXPIRED_TOKEN"
    USED_TOKEN = "USED_TOKEN"
    INVALID_USERNAME = "INVALID_USERNAME"


INVALID_EMAIL = "Enter a valid email address."
RATE_LIMITED = "Too many sign-in links were requested. Wait a few minutes and try again."
INVALID_TOKEN = "This sign-in link is not valid. Request a new one."
EXPIRED_TOKEN = "This sign-in link has expired. Request a new one."
USED_TOKEN = "This sign-in link was already used. Request a new one."
INVALID_BEARER_TOKEN = (
    "The bearer token is invalid or expired (unknown or revoked). Sign in again for a new "
    "token, or send no Authorization header to continue signed out."
)
INVALID_USERNAME = (
    "Not a valid username: {names}. Use at most 150 letters, digits and @ . + - _ characters."
)
