"""Stable error codes (clients match on them) and the messages users read."""

from __future__ import annotations

from enum import StrEnum


class DemocracyErrorCode(StrEnum):
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    INVALID_CHARACTERS = "INVALID_CHARACTERS"
    TOO_MANY_TAGS = "TOO_MANY_TAGS"
    INVALID_DATETIME = "INVALID_DATETIME"
    NAME_TAKEN = "NAME_TAKEN"
    ALREADY_MEMBER = "ALREADY_MEMBER"
    NOT_MEMBER = "NOT_MEMBER"
    LAST_MANAGER = "LAST_MANAGER"
    LOBBYIST_CANNOT_BE_ANONYMOUS = "LOBBYIST_CANNOT_BE_ANONYMOUS"
    FOLLOW_SELF = "FOLLOW_SELF"
    NOT_FOLLOWING = "NOT_FOLLOWING"
    INVALID_TAG = "INVALID_TAG"
    INVALID_ORDER = "INVALID_ORDER"
    TOO_FEW_CHOICES = "TOO_FEW_CHOICES"
    TOO_MANY_CHOICES = "TOO_MANY_CHOICES"
    DUPLICATE_CHOICE = "DUPLICATE_CHOICE"
    CLOSES_IN_PAST = "CLOSES_IN_PAST"
    DECISION_NOT_DRAFT = "DECISION_NOT_DRAFT"
    DECISION_NOT_OPEN = "DECISION_NOT_OPEN"
    DECISION_NOT_DUE = "DECISION_NOT_DUE"
    INVALID_STARS = "INVALID_STARS"
    UNKNOWN_CHOICE = "UNKNOWN_CHOICE"
    DUPLICATE_STARS = "DUPLICATE_STARS"
    NO_BALLOT = "NO_BALLOT"


NAME_REQUIRED = "Give the community a name."
NAME_TAKEN = "A community with this name already exists. Choose another name."
ALREADY_MEMBER = "You are already a member of this community."
NOT_A_MEMBER = "You are not a member of this community. Join it first."
NOT_APPROVED = "Your membership is waiting for a manager's approval."
NOT_A_MANAGER = "Only the community's managers may do this."
NOT_STAFF = "Only active staff may change communities from the admin."
NOT_YOURS = "You may only change your own membership."
LAST_MANAGER = "You are the community's last manager. Make another member a manager first."
THEIR_LAST_MANAGER = (
    "This member is the community's last manager. Make another member a manager first."
)
LOBBYIST_ANONYMOUS = "Lobbyists act in public and cannot be anonymous."
FOLLOW_SELF = "You cannot follow yourself."
FOLLOWEE_NOT_MEMBER = "You can only follow a current member of the same community."
NOT_FOLLOWING = "You do not follow this member."
INVALID_ORDER = "Order must be a whole number of at least 1."
INVALID_TAG = (
    "Tag {tag!r} is not valid: use 1 to 40 characters of a-z, 0-9, '-' and '_' (spaces become '-')."
)
TITLE_REQUIRED = "Give the decision a title."
CHOICE_TITLE_REQUIRED = "Every choice needs a title."
TOO_FEW_CHOICES = "A decision needs at least {minimum} choices."
TOO_MANY_CHOICES = "A decision can have at most {maximum} choices."
DUPLICATE_CHOICE = "Choice {title!r} appears twice. Give each choice a different title."
CLOSES_IN_PAST = "The closing time must be in the future."
DECISION_NOT_DRAFT = "Only a draft decision can be changed or published; this one is {status}."
DECISION_NOT_OPEN = "This decision is {status}: ballots are accepted only while it is open."
DECISION_NOT_DUE = "This decision stays open until its closing time."
INVALID_STARS = "Stars must be a whole number from 0 to 5."
UNKNOWN_CHOICE = "This choice does not belong to the decision."
DUPLICATE_STARS = "Each choice can be rated only once per ballot."
NO_BALLOT = "You have no ballot on this decision to retract."
TOO_LONG = "{what} can be at most {limit} characters long."
INVALID_CHARACTERS = "{what} contains control characters (such as NUL): remove them and try again."
HIDDEN_CHARACTERS = (
    "{what} contains invisible or direction-changing characters (such as a zero-width "
    "space or a right-to-left override): remove them and try again."
)
TOO_MANY_TAGS = "Give at most {limit} tags."
NAIVE_DATETIME = "Give the closing time with its time zone, e.g. 2030-01-31T18:00:00Z."
DATETIME_OUT_OF_RANGE = "Give a closing time between the years 1 and 9999 in UTC."
