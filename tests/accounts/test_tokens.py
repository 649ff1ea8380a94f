"""API tokens: issued once in clear, stored hashed, revocable."""

from __future__ import annotations

import pytest

from accounts.errors import AccountErrorCode
from accounts.models import ApiToken, User
from accounts.services.tokens import (
    hash_secret,
    token_authenticate,
    token_issue,
    token_issue_for_usernames,
    token_revoke,
)
from core.errors import DomainError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_issued_token_authenticates_its_user_and_is_stored_hashed():
    ann = UserFactory(username="ann")
    token, raw = token_issue(user=ann, name="laptop")
    assert raw.startswith("cv_")
    assert token.token_hash == hash_secret(raw) != raw
    assert token_authenticate(raw).user == ann


def test_revoked_token_no_longer_authenticates():
    token, raw = token_issue(user=UserFactory())
    token_revoke(token=token)
    assert token_authenticate(raw) is None


def test_token_of_a_deactivated_user_does_not_authenticate():
    ann = UserFactory(is_active=False)
    assert token_authenticate(token_issue(user=ann)[1]) is None


def test_issuing_is_logged_by_token_id_never_by_secret(logs):
    token, raw = token_issue(user=UserFactory(username="ann"), name="laptop")
    [issued] = logs.events("TOKEN_ISSUED")
    assert issued.actor == "ann"
    assert issued.getMessage() == f"API token #{token.pk} (laptop) issued"
    logs.assert_never_contains(raw, token.token_hash)


def test_issuing_for_usernames_creates_only_missing_users():
    UserFactory(username="ann")
    issued = token_issue_for_usernames(usernames=["ann", "bob", "ann"])
    assert [(item.username, item.user_created) for item in issued] == [
        ("ann", False),
        ("bob", True),
    ]
    assert User.objects.count() == 2
    assert [token_authenticate(item.token).user.username for item in issued] == ["ann", "bob"]


def test_one_invalid_username_refuses_the_whole_batch():
    with pytest.raises(DomainError) as raised:
        token_issue_for_usernames(usernames=["ann", "not valid", "b;c"])
    assert raised.value.code == AccountErrorCode.INVALID_USERNAME
    assert "'not valid', 'b;c'" in raised.value.message
    assert not User.objects.exists()
    assert not ApiToken.objects.exists()
