"""Requesting and redeeming sign-in links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.utils import timezone

from accounts.errors import AccountErrorCode
from accounts.models import MagicLink, User
from accounts.services.magic_links import magic_link_redeem, magic_link_request
from accounts.services.sessions import client_ip
from accounts.services.tokens import hash_secret
from core.errors import DomainError
from tests.accounts.support import token_from_mail
from tests.factories import MagicLinkFactory, UserFactory

pytestmark = pytest.mark.django_db

IP = "192.0.2.10"
TOKEN = "cvl_known-test-token"
LINE = re.compile(
    r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[(INFO|WARNING)\] \[[A-Z_]+\] \[[^\]]+\] - .+$"
)


def request_link(email: str, ip: str = IP, *, capture) -> str:  # type: ignore[no-untyped-def]
    """Request a link, run the on-commit mail, and return the token from the email."""
    with capture(execute=True):
        magic_link_request(email=email, ip=ip)
    return token_from_mail(mail.outbox[-1])


def test_request_stores_only_the_hash_of_the_token(django_capture_on_commit_callbacks):
    token = request_link("ann@example.org", capture=django_capture_on_commit_callbacks)
    link = MagicLink.objects.get()
    assert link.token_hash == hash_secret(token)
    assert token not in {link.token_hash, link.email}
    assert link.used_at is None
    assert link.requested_ip == IP


def test_link_expires_after_the_configured_time():
    magic_link_request(email="ann@example.org", ip=IP)
    link = MagicLink.objects.get()
    lifetime = link.expires_at - link.created_at
    assert abs(lifetime - timedelta(seconds=settings.MAGIC_LINK_TTL_SECONDS)) < timedelta(seconds=5)


def test_email_is_sent_only_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        magic_link_request(email="ann@example.org", ip=IP)
    assert mail.outbox == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert len(mail.outbox) == 1


def test_email_contains_the_sign_in_link_and_the_token(django_capture_on_commit_callbacks):
    token = request_link("ann@example.org", capture=django_capture_on_commit_callbacks)
    message = mail.outbox[0]
    assert message.to == ["ann@example.org"]
    assert f"{settings.PUBLIC_URL}/sign-in/?token={token}" in message.body
    assert f"\n{token}\n" in message.body


def test_email_address_is_normalised_to_lower_case(django_capture_on_commit_callbacks):
    request_link("  Ann@Example.ORG ", capture=django_capture_on_commit_callbacks)
    assert MagicLink.objects.get().email == "ann@example.org"
    assert mail.outbox[0].to == ["ann@example.org"]


@pytest.mark.parametrize("email", ["", "ann", "ann@", "@example.org", "ann@example", "a b@x.org"])
def test_invalid_address_is_refused_and_nothing_is_sent(email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(DomainError) as raised:
        magic_link_request(email=email, ip=IP)
    assert (raised.value.code, raised.value.field) == (AccountErrorCode.INVALID_EMAIL, "email")
    assert not MagicLink.objects.exists()
    assert mail.outbox == []


def test_known_and_unknown_addresses_get_the_same_answer(django_capture_on_commit_callbacks):
    UserFactory(username="ann", email="ann@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        known = magic_link_request(email="ann@example.org", ip=IP)
        unknown = magic_link_request(email="nobody@example.org", ip=IP)
    assert known is None
    assert unknown is None
    assert [m.to for m in mail.outbox] == [["ann@example.org"], ["nobody@example.org"]]
    assert mail.outbox[0].subject == mail.outbox[1].subject
    assert not User.objects.filter(email="nobody@example.org").exists()


@pytest.mark.parametrize("existing", [0, 1])
def test_rate_limit_per_address(settings, existing):
    settings.MAGIC_LINK_MAX_PER_ADDRESS = 2
    UserFactory(username="ann", email="ann@example.org") if existing else None
    magic_link_request(email="ann@example.org", ip="192.0.2.1")
    magic_link_request(email="Ann@example.org", ip="192.0.2.2")
    with pytest.raises(DomainError) as raised:
        magic_link_request(email="ann@example.org", ip="192.0.2.3")
    assert (raised.value.code, raised.value.field) == (AccountErrorCode.RATE_LIMITED, "email")
    assert MagicLink.objects.count() == 2
    magic_link_request(email="bob@example.org", ip="192.0.2.3")


def test_rate_limit_per_client_ip(settings):
    settings.MAGIC_LINK_MAX_PER_IP = 2
    magic_link_request(email="a@example.org", ip=IP)
    magic_link_request(email="b@example.org", ip=IP)
    with pytest.raises(DomainError) as raised:
        magic_link_request(email="c@example.org", ip=IP)
    assert raised.value.code == AccountErrorCode.RATE_LIMITED
    magic_link_request(email="c@example.org", ip="192.0.2.99")


def test_rate_limit_counts_only_the_recent_window(settings):
    settings.MAGIC_LINK_MAX_PER_ADDRESS = 1
    magic_link_request(email="ann@example.org", ip=IP)
    window = timedelta(seconds=settings.MAGIC_LINK_RATE_WINDOW_SECONDS)
    MagicLink.objects.update(created_at=timezone.now() - window - timedelta(seconds=1))
    magic_link_request(email="ann@example.org", ip=IP)
    assert MagicLink.objects.count() == 2


def test_redeeming_a_valid_link_signs_the_owner_in_and_uses_it_up():
    ann = UserFactory(username="ann", email="Ann@Example.org")
    MagicLinkFactory(email="ann@example.org", token=TOKEN)
    assert magic_link_redeem(token=TOKEN, ip=IP) == ann
    assert MagicLink.objects.get().used_at is not None


def test_redeeming_a_link_for_an_unknown_address_creates_the_account():
    MagicLinkFactory(email="new.person@example.org", token=TOKEN)
    user = magic_link_redeem(token=TOKEN, ip=IP)
    assert (user.username, user.email) == ("new.person", "new.person@example.org")
    assert not user.has_usable_password()


def test_created_username_is_made_unique():
    UserFactory(username="New.Person", email="other@example.org")
    MagicLinkFactory(email="new.person@example.org", token=TOKEN)
    assert magic_link_redeem(token=TOKEN, ip=IP).username == "new.person-2"


def test_expired_link_is_refused_and_stays_unused():
    MagicLinkFactory(token=TOKEN, expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(DomainError) as raised:
        magic_link_redeem(token=TOKEN, ip=IP)
    assert (raised.value.code, raised.value.field) == (AccountErrorCode.EXPIRED_TOKEN, "token")
    assert MagicLink.objects.get().used_at is None


def test_used_link_is_refused_the_second_time():
    MagicLinkFactory(token=TOKEN)
    magic_link_redeem(token=TOKEN, ip=IP)
    with pytest.raises(DomainError) as raised:
        magic_link_redeem(token=TOKEN, ip=IP)
    assert raised.value.code == AccountErrorCode.USED_TOKEN
    assert User.objects.count() == 1


@pytest.mark.parametrize("token", ["", "   ", "cvl_nope", "x" * 5000])
def test_unknown_token_is_refused(token):
    MagicLinkFactory(token=TOKEN)
    with pytest.raises(DomainError) as raised:
        magic_link_redeem(token=token, ip=IP)
    assert (raised.value.code, raised.value.field) == (AccountErrorCode.INVALID_TOKEN, "token")
    assert MagicLink.objects.get().used_at is None


def test_deactivated_account_cannot_redeem_and_the_link_stays_unused():
    UserFactory(username="ann", email="ann@example.org", is_active=False)
    MagicLinkFactory(email="ann@example.org", token=TOKEN)
    with pytest.raises(DomainError) as raised:
        magic_link_redeem(token=TOKEN, ip=IP)
    assert raised.value.code == AccountErrorCode.INVALID_TOKEN
    assert MagicLink.objects.get().used_at is None


def test_concurrent_redemption_lets_exactly_one_request_succeed():
    """A request that uses the link just before another one writes makes that one fail.

    The competing request runs nested in the same connection (so the failure rolls it back
    too); what matters is that the claim re-checks ``used_at`` at the moment of writing.
    """
    MagicLinkFactory(email="ann@example.org", token=TOKEN)
    winners: list[User] = []
    raced = False

    def competing_request(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        nonlocal raced
        if not raced and sql.startswith("UPDATE") and "accounts_magiclink" in sql:
            raced = True
            winners.append(magic_link_redeem(token=TOKEN, ip="192.0.2.77"))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(competing_request), pytest.raises(DomainError) as raised:
        magic_link_redeem(token=TOKEN, ip=IP)
    assert raised.value.code == AccountErrorCode.USED_TOKEN
    assert [user.email for user in winners] == ["ann@example.org"]


def test_request_and_sign_in_are_logged_in_one_line_without_the_token(
    logs, django_capture_on_commit_callbacks
):
    UserFactory(username="ann", email="ann@example.org")
    token = request_link("ann@example.org", capture=django_capture_on_commit_callbacks)
    magic_link_redeem(token=token, ip=IP)
    [requested] = logs.events("MAGIC_LINK_REQUESTED")
    [signed_in] = logs.events("SIGN_IN")
    assert requested.actor == signed_in.actor == "ann"
    lines = logs.lines()
    assert all(LINE.match(line) for line in lines), lines
    assert any(
        line.endswith(f"[SIGN_IN] [ann] - Signed in with a magic link from {IP}") for line in lines
    )
    logs.assert_never_contains(token, hash_secret(token), "ann@example.org")


@pytest.mark.parametrize(
    ("expires_in", "uses", "reason"),
    [(60, 0, "unknown"), (-60, 0, "expired"), (60, 1, "already used")],
)
def test_failed_redemption_is_logged_without_the_token(logs, expires_in, uses, reason):
    MagicLinkFactory(token=TOKEN, expires_at=timezone.now() + timedelta(seconds=expires_in))
    for _ in range(uses):
        magic_link_redeem(token=TOKEN, ip=IP)
    attempt = "cvl_wrong" if reason == "unknown" else TOKEN
    with pytest.raises(DomainError):
        magic_link_redeem(token=attempt, ip=IP)
    [failed] = logs.events("SIGN_IN_FAILED")
    assert failed.levelname == "WARNING"
    assert failed.getMessage().endswith(f"from {IP}: {reason}")
    logs.assert_never_contains(TOKEN, "cvl_wrong", hash_secret(TOKEN))


def test_rate_limited_request_is_logged_as_a_warning(logs, settings):
    settings.MAGIC_LINK_MAX_PER_ADDRESS = 1
    magic_link_request(email="ann@example.org", ip=IP)
    with pytest.raises(DomainError):
        magic_link_request(email="ann@example.org", ip=IP)
    levels = [r.levelname for r in logs.events("MAGIC_LINK_REQUESTED")]
    assert levels == ["INFO", "WARNING"]


@pytest.mark.parametrize(
    ("remote_addr", "expected"),
    [("203.0.113.5", "203.0.113.5"), ("2001:db8::1", "2001:db8::1"), ("", None), ("unix", None)],
)
def test_client_ip_is_the_remote_address_when_it_is_one(rf, remote_addr, expected):
    request = rf.post("/graphql", REMOTE_ADDR=remote_addr)
    assert client_ip(request) == expected
