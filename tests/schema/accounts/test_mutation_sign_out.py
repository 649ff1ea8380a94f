"""``signOut``."""

from __future__ import annotations

import pytest
from django.conf import settings

from accounts.models import ApiToken
from tests.conftest import GraphQLClient
from tests.factories import MagicLinkFactory, UserFactory

pytestmark = pytest.mark.django_db

SIGN_OUT = "mutation { signOut { ok errors { code } } }"
SIGN_IN = "mutation ($t: String!) { signInWithMagicLink(token: $t) { token } }"
LINK = "cvl_sign-out-test"
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


def browser_signed_in(graphql_as, link: str = LINK) -> tuple[GraphQLClient, GraphQLClient]:  # type: ignore[no-untyped-def]
    """Sign a browser in; return it and a script holding the token of the same sign-in."""
    UserFactory(username="ann", email="ann@example.org")
    MagicLinkFactory(email="ann@example.org", token=link)
    browser = graphql_as(None)
    script = GraphQLClient()
    script.token = browser(SIGN_IN, t=link).data["signInWithMagicLink"]["token"]
    assert browser(ME).data["me"] == script(ME).data["me"] == {"username": "ann"}
    return browser, script


def test_signing_out_with_the_token_ends_the_session_of_the_same_sign_in(graphql_as):
    browser, script = browser_signed_in(graphql_as)
    assert script(SIGN_OUT).data["signOut"]["ok"] is True
    assert browser(ME).data["me"] is None
    assert script(ME).error_codes == ["UNAUTHENTICATED"]


def test_signing_out_with_the_cookie_revokes_the_token_of_the_same_sign_in(graphql_as):
    browser, script = browser_signed_in(graphql_as)
    assert browser(SIGN_OUT).data["signOut"]["ok"] is True
    assert script(ME).error_codes == ["UNAUTHENTICATED"]
    assert ApiToken.objects.get().revoked_at is not None


def test_signing_out_leaves_other_sign_ins_signed_in(graphql_as):
    browser, script = browser_signed_in(graphql_as)
    MagicLinkFactory(email="ann@example.org", token="cvl_second-sign-in")
    laptop = graphql_as(None)
    laptop(SIGN_IN, t="cvl_second-sign-in")
    script(SIGN_OUT)
    assert browser(ME).data["me"] is None
    assert laptop(ME).data["me"] == {"username": "ann"}


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
