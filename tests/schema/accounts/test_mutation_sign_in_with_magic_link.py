"""``signInWithMagicLink(token:)``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import ApiToken, MagicLink, User
from tests.conftest import GraphQLClient
from tests.factories import MagicLinkFactory, UserFactory

pytestmark = pytest.mark.django_db

TOKEN = "cvl_graphql-test-token"
SIGN_IN = """
mutation ($token: String!) {
  signInWithMagicLink(token: $token) { token user { username } errors { code field message } }
}
"""
ME = "{ me { username } }"


def test_returns_a_working_token_and_the_user(graphql_as):
    UserFactory(username="ann", email="ann@example.org")
    MagicLinkFactory(email="ann@example.org", token=TOKEN)
    payload = graphql_as(None)(SIGN_IN, token=TOKEN).data["signInWithMagicLink"]
    assert payload["user"] == {"username": "ann"}
    assert payload["errors"] == []
    script = GraphQLClient()
    script.token = payload["token"]
    assert script(ME).data["me"] == {"username": "ann"}


def test_sets_a_session_cookie_that_signs_the_browser_in(graphql_as):
    UserFactory(username="ann", email="ann@example.org")
    MagicLinkFactory(email="ann@example.org", token=TOKEN)
    browser = graphql_as(None)
    browser(SIGN_IN, token=TOKEN)
    assert settings.SESSION_COOKIE_NAME in browser.client.cookies
    assert browser(ME).data["me"] == {"username": "ann"}


def test_unknown_address_gets_a_new_account(graphql_as):
    MagicLinkFactory(email="zoe@example.org", token=TOKEN)
    payload = graphql_as(None)(SIGN_IN, token=TOKEN).data["signInWithMagicLink"]
    assert payload["user"] == {"username": "zoe"}


@pytest.mark.parametrize(
    ("token", "expires_in", "used", "code"),
    [
        ("cvl_unknown", 60, False, "INVALID_TOKEN"),
        (TOKEN, -60, False, "EXPIRED_TOKEN"),
        (TOKEN, 60, True, "USED_TOKEN"),
    ],
)
def test_refused_link_is_a_user_error_and_signs_nobody_in(
    graphql_as, token, expires_in, used, code
):
    MagicLinkFactory(
        token=TOKEN,
        expires_at=timezone.now() + timedelta(seconds=expires_in),
        used_at=timezone.now() if used else None,
    )
    browser = graphql_as(None)
    payload = browser(SIGN_IN, token=token).data["signInWithMagicLink"]
    assert payload["token"] is None
    assert payload["user"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, "token")]
    assert settings.SESSION_COOKIE_NAME not in browser.client.cookies
    assert not ApiToken.objects.exists()


def test_a_link_signs_in_only_once(graphql_as):
    MagicLinkFactory(token=TOKEN)
    client = graphql_as(None)
    client(SIGN_IN, token=TOKEN)
    payload = client(SIGN_IN, token=TOKEN).data["signInWithMagicLink"]
    assert [e["code"] for e in payload["errors"]] == ["USED_TOKEN"]
    assert ApiToken.objects.count() == 1
    assert MagicLink.objects.get().used_at is not None


def test_nothing_logged_contains_the_link_or_api_token(graphql_as, logs):
    MagicLinkFactory(email="ann@example.org", token=TOKEN)
    payload = graphql_as(None)(SIGN_IN, token=TOKEN).data["signInWithMagicLink"]
    assert [r.event for r in logs.records if hasattr(r, "event")] == ["SIGN_IN", "TOKEN_ISSUED"]
    logs.assert_never_contains(TOKEN, payload["token"])


def test_signing_in_retires_the_other_outstanding_links_of_the_address(graphql_as):
    MagicLinkFactory(email="ann@example.org", token="cvl_older")
    MagicLinkFactory(email="ann@example.org", token=TOKEN)
    MagicLinkFactory(email="bob@example.org", token="cvl_bobs")
    graphql_as(None)(SIGN_IN, token=TOKEN)

    older = graphql_as(None)(SIGN_IN, token="cvl_older").data["signInWithMagicLink"]

    assert older["token"] is None
    assert older["errors"] == [
        {
            "code": "EXPIRED_TOKEN",
            "field": "token",
            "message": "This sign-in link has expired. Request a new one.",
        }
    ]
    bobs = graphql_as(None)(SIGN_IN, token="cvl_bobs").data["signInWithMagicLink"]
    assert bobs["user"] == {"username": "bob"}


def signed_up_as(graphql_as, email: str) -> str:  # type: ignore[no-untyped-def]
    """Sign a new address in and return the username its account was given."""
    MagicLinkFactory(email=email, token=TOKEN)
    payload = graphql_as(None)(SIGN_IN, token=TOKEN).data["signInWithMagicLink"]
    assert payload["errors"] == []
    return payload["user"]["username"]


@pytest.mark.parametrize(
    ("taken", "email"),
    [
        ("alice", "al\u0131ce@example.net"),  # dotless i
        ("alice", "ALICE@example.net"),
        ("parks_trust", "park\u017f_tru\u017ft@example.net"),  # long s: NFKC makes it parks
    ],
)
def test_a_new_account_never_gets_a_look_alike_of_a_taken_name(graphql_as, taken, email):
    UserFactory(username=taken, email=f"{taken}@example.org")

    username = signed_up_as(graphql_as, email)

    assert username.endswith("-2")
    assert User.objects.get(email=email).username == username


def test_a_name_whose_look_alike_is_free_is_kept(graphql_as):
    assert signed_up_as(graphql_as, "al\u0131ce@example.net") == "al\u0131ce"
