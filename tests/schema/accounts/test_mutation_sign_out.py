"""``signOut``."""

from __future__ import annotations

import pytest
from django.conf import settings

from accounts.models import ApiToken
from tests.factories import MagicLinkFactory, UserFactory

pytestmark = pytest.mark.django_db

SIGN_OUT = "mutation { signOut { ok errors { code } } }"
SIGN_IN = "mutation ($t: String!) { signInWithMagicLink(token: $t) { token } }"
ME = "{ me { username } }"


def test_revokes_the_bearer_token_of_the_request(graphql_as, user):
    client = graphql_as(user)
    assert client(SIGN_OUT).data["signOut"] == {"ok": True, "errors": []}
    assert client(ME).error_codes == ["UNAUTHENTICATED"]
    assert ApiToken.objects.get().revoked_at is not None


def test_other_tokens_of_the_user_stay_valid(graphql_as, user):
    laptop, phone = graphql_as(user), graphql_as(user)
    laptop(SIGN_OUT)
    assert phone(ME).data["me"] == {"username": "alice"}


def test_ends_the_session_of_a_browser(graphql_as):
    UserFactory(username="ann", email="ann@example.org")
    MagicLinkFactory(email="ann@example.org", token="cvl_sign-out-test")
    browser = graphql_as(None)
    browser(SIGN_IN, t="cvl_sign-out-test")
    assert browser(ME).data["me"] == {"username": "ann"}
    assert browser(SIGN_OUT).data["signOut"]["ok"] is True
    assert browser(ME).data["me"] is None
    assert not browser.client.cookies[settings.SESSION_COOKIE_NAME].value


def test_anonymous_caller_gets_unauthenticated(graphql_as):
    response = graphql_as(None)(SIGN_OUT)
    assert response.error_codes == ["UNAUTHENTICATED"]
    assert response.body["data"] is None


def test_is_logged_with_the_revoked_token_id(graphql_as, user, logs):
    graphql_as(user)(SIGN_OUT)
    [signed_out] = logs.events("SIGN_OUT")
    token = ApiToken.objects.get()
    assert (signed_out.actor, signed_out.getMessage()) == (
        "alice",
        f"Signed out and revoked API token #{token.pk}",
    )
