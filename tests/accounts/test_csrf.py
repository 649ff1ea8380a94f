"""CSRF: forms and cookie-authenticated calls need the token; only the API may skip it.

Every client here enforces CSRF, as a browser-facing server must.
"""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import MagicLink, User
from accounts.services.tokens import token_issue
from tests.factories import MagicLinkFactory, UserFactory

pytestmark = pytest.mark.django_db

LINK = "cvl_csrf-test-link"
SIGN_IN = "mutation ($t: String!) { signInWithMagicLink(token: $t) { token errors { code } } }"
REQUEST_LINK = 'mutation { requestMagicLink(email: "zoe@example.org") { ok } }'
ME = "{ me { username } }"
CSRF_FAILED = {
    "data": None,
    "errors": [
        {
            "message": "This request was refused as possibly forged. Browsers: call the API from "
            "this site and send the X-CSRFToken header (from the csrftoken cookie). "
            "Scripts: send 'Authorization: Bearer <token>'.",
            "extensions": {"code": "CSRF_FAILED"},
        }
    ],
}


def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def graphql(client: Client, document: str, **headers: str):  # type: ignore[no-untyped-def]
    variables = {"t": LINK}
    body = json.dumps({"query": document, "variables": variables})
    return client.post("/graphql", data=body, content_type="application/json", **headers)


@pytest.fixture
def staff() -> None:
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    user.set_password("a long admin password")
    user.save()


@pytest.fixture
def link() -> MagicLink:
    return MagicLinkFactory(email="ann@example.org", token=LINK)


# Forms


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer cv_anything"}])
def test_admin_sign_in_without_csrf_token_is_refused(staff, headers):
    client = browser()
    response = client.post(
        "/admin/login/", {"username": "root", "password": "a long admin password"}, **headers
    )
    assert response.status_code == 403
    assert settings.SESSION_COOKIE_NAME not in client.cookies
    assert client.get("/admin/").status_code == 302  # still sent to the sign-in page


def test_admin_sign_in_with_csrf_token_signs_in(staff):
    client = browser()
    client.get("/admin/login/")
    response = client.post(
        "/admin/login/",
        {
            "username": "root",
            "password": "a long admin password",
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admin_post_with_a_valid_bearer_token_still_needs_the_csrf_token(staff):
    _, raw = token_issue(user=User.objects.get(username="root"))
    response = browser().post("/admin/accounts/user/add/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 403


def test_sign_in_form_with_a_bearer_header_still_needs_the_csrf_token(link):
    response = browser().post("/sign-in/", {"token": LINK}, HTTP_AUTHORIZATION="Bearer cv_anything")
    assert response.status_code == 403
    link.refresh_from_db()
    assert link.used_at is None


# The GraphQL endpoint


def test_cookie_authenticated_call_without_csrf_token_is_refused_with_a_code():
    client = browser()
    client.force_login(UserFactory(username="ann"))
    response = graphql(client, ME)
    assert response.status_code == 403
    assert response.json() == CSRF_FAILED


def test_bearer_call_needs_no_csrf_token_even_from_another_site():
    _, raw = token_issue(user=UserFactory(username="ann"))
    response = graphql(
        browser(), ME, HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_ORIGIN="https://evil.example"
    )
    assert response.json()["data"]["me"] == {"username": "ann"}


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://testserver.evil"])
def test_sign_in_from_another_site_is_refused_and_signs_nobody_in(link, origin):
    client = browser()
    response = graphql(client, SIGN_IN, HTTP_ORIGIN=origin)
    assert response.status_code == 403
    assert response.json() == CSRF_FAILED
    assert settings.SESSION_COOKIE_NAME not in client.cookies
    link.refresh_from_db()
    assert link.used_at is None


def test_link_request_from_another_site_is_refused():
    response = graphql(browser(), REQUEST_LINK, HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 403
    assert not MagicLink.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_ORIGIN": "http://testserver"},  # a page of this site (GraphiQL)
        {},  # a script: no Origin
    ],
)
def test_sign_in_from_this_site_or_a_script_works(link, headers):
    client = browser()
    payload = graphql(client, SIGN_IN, **headers).json()["data"]["signInWithMagicLink"]
    assert payload["errors"] == []
    assert payload["token"].startswith("cv_")
    assert settings.SESSION_COOKIE_NAME in client.cookies


def test_sign_in_from_a_trusted_origin_works(link, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.org"]
    response = graphql(browser(), SIGN_IN, HTTP_ORIGIN="https://app.example.org")
    assert response.json()["data"]["signInWithMagicLink"]["errors"] == []


def test_signed_in_browser_calls_with_its_csrf_token():
    client = browser()
    client.force_login(UserFactory(username="ann"))
    client.get("/sign-in/")
    response = graphql(
        client,
        ME,
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
        HTTP_ORIGIN="http://testserver",
    )
    assert response.json()["data"]["me"] == {"username": "ann"}
