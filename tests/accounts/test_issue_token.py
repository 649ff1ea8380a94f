"""``manage.py issue_token NAME [NAME …]``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiToken, User
from accounts.services.tokens import token_authenticate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def issue_token(*names: str) -> list[list[str]]:
    out = StringIO()
    call_command("issue_token", *names, stdout=out)
    return [line.split(" ") for line in out.getvalue().splitlines()]


def test_prints_one_name_and_token_per_line():
    lines = issue_token("alice", "bob")
    assert [name for name, _ in lines] == ["alice", "bob"]
    for name, token in lines:
        assert token_authenticate(token).user.username == name


def test_creates_missing_users_without_a_usable_password():
    issue_token("alice")
    alice = User.objects.get(username="alice")
    assert not alice.has_usable_password()


def test_existing_users_get_a_new_token_and_keep_their_old_one():
    alice = UserFactory(username="alice")
    [[_, first]] = issue_token("alice")
    [[_, second]] = issue_token("alice")
    assert first != second
    assert User.objects.filter(username="alice").get() == alice
    assert token_authenticate(first) is not None
    assert token_authenticate(second) is not None


def test_invalid_name_is_a_command_error_and_creates_nothing():
    with pytest.raises(CommandError, match="'bad name'"):
        issue_token("alice", "bad name")
    assert not User.objects.exists()
    assert not ApiToken.objects.exists()


def test_logs_each_issued_token_without_printing_it_to_the_log(logs):
    lines = issue_token("alice", "bob")
    assert [r.actor for r in logs.events("TOKEN_ISSUED")] == ["alice", "bob"]
    logs.assert_never_contains(*(token for _, token in lines))
