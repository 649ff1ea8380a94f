"""Accounts created on first sign-in, and names scripts may use."""

from __future__ import annotations

import pytest

from accounts.services.users import (
    user_get_or_create_by_email,
    username_from_email,
    username_is_valid,
)
from accounts.usernames import username_key
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("email", "username"),
    [
        ("ann.lee@example.org", "ann.lee"),
        ("ann+votes@example.org", "ann+votes"),
        ("zoë@example.org", "zoë"),
        ("a'b!c@example.org", "abc"),
        ("!!!@example.org", "member"),
        (f"{'x' * 200}@example.org", "x" * 140),
    ],
)
def test_username_is_derived_from_the_local_part(email, username):
    assert username_from_email(email) == username
    assert username_is_valid(username)


def test_derived_username_skips_taken_names_whatever_their_case():
    UserFactory(username="Ann")
    UserFactory(username="ann-2")
    assert username_from_email("ann@example.org") == "ann-3"


def test_existing_account_is_found_by_email_in_any_case():
    ann = UserFactory(username="ann", email="Ann@Example.org")
    assert user_get_or_create_by_email(email="ann@example.org") == ann


@pytest.mark.parametrize("username", ["", "has space", "semi;colon", "x" * 151])
def test_invalid_usernames_are_recognised(username):
    assert not username_is_valid(username)


@pytest.mark.parametrize(
    "look_alike",
    ["Alice", "al\u0131ce", "AL\u0130CE", "\u0430lice", "al\u00efce", "\u0430LICE"],
)
def test_look_alikes_share_a_key(look_alike):
    assert username_key(look_alike) == username_key("alice") == "alice"


def test_different_names_keep_different_keys():
    assert username_key("alice") != username_key("alicia")
    assert username_key("park\u017f") == "parks"
