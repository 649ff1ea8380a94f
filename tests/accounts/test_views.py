"""The browser sign-in page at /sign-in/."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken, MagicLink
from accounts.services.tokens import token_authenticate, token_issue
from tests.accounts.support import token_from_mail
from tests.factories import MagicLinkFactory, UserFactory

pytestmark = pytest.mark.django_db

TOKEN = "cvl_page-test-token"
ME = "{ me { username } }"


def csrf_client(path: str = "/sign-in/") -> Client:
    """Return a browser-like client that has loaded ``path`` and holds its CSRF cookie."""
    client = Client(enforce_csrf_checks=True)
    client.get(path)
    return client


def post(client: Client, **data: str):  # type: ignore[no-untyped-def]
    csrf = client.cookies["csrftoken"].value
    return client.post("/sign-in/", {**data, "csrfmiddlewaretoken": csrf})


def test_opening_the_link_shows_a_button_and_does_not_use_the_link():
    MagicLinkFactory(token=TOKEN)
    response = Client().get("/sign-in/", {"token": TOKEN})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'method="post"' in page
    assert f'name="token" value="{TOKEN}"' in page
    assert "Sign in</button>" in page
    assert "csrfmiddlewaretoken" in page
    assert MagicLink.objects.get().used_at is None


def test_page_keeps_the_token_out_of_referers_and_caches():
    response = Client().get("/sign-in/", {"token": TOKEN})
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


def test_pressing_the_button_signs_in_with_a_session_and_shows_a_token_once():
    UserFactory(username="ann", email="ann@example.org")
    MagicLinkFactory(email="ann@example.org", token=TOKEN)
    client = csrf_client(f"/sign-in/?token={TOKEN}")
    response = post(client, token=TOKEN)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Signed in as ann" in page
    assert 'href="/graphql"' in page
    raw = page.split('<code class="token">')[1].split("</code>")[0]
    assert token_authenticate(raw).user.username == "ann"
    assert MagicLink.objects.get().used_at is not None
    assert settings.SESSION_COOKIE_NAME in response.cookies
    csrf = client.cookies["csrftoken"].value
    me = client.post(
        "/graphql",
        json.dumps({"query": ME}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert me.json()["data"]["me"] == {"username": "ann"}


@pytest.mark.parametrize(
    ("expires_in", "used", "message"),
    [
        (60, False, "This sign-in link is not valid."),
        (-60, False, "This sign-in link has expired."),
        (60, True, "This sign-in link was already used."),
    ],
)
def test_refused_link_is_explained_in_words(expires_in, used, message):
    MagicLinkFactory(
        token=TOKEN,
        expires_at=timezone.now() + timedelta(seconds=expires_in),
        used_at=timezone.now() if used else None,
    )
    client = csrf_client()
    response = post(client, token=TOKEN if message != "This sign-in link is not valid." else "x")
    assert response.status_code == 400
    assert message in response.content.decode()
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert not ApiToken.objects.exists()


def test_sign_in_post_without_csrf_token_is_refused():
    MagicLinkFactory(token=TOKEN)
    response = Client(enforce_csrf_checks=True).post("/sign-in/", {"token": TOKEN})
    assert response.status_code == 403
    assert MagicLink.objects.get().used_at is None


def test_page_without_a_token_offers_to_email_a_link():
    page = Client().get("/sign-in/").content.decode()
    assert 'type="email" name="email"' in page


def test_asking_for_a_link_emails_it(django_capture_on_commit_callbacks):
    client = csrf_client()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, email="Ann@Example.org")
    assert response.status_code == 200
    assert "We sent a sign-in link to" in response.content.decode()
    token = token_from_mail(mail.outbox[0])
    assert MagicLink.objects.get().email == "ann@example.org"
    assert client.get("/sign-in/", {"token": token}).status_code == 200


def test_asking_for_a_link_with_a_bad_address_says_so():
    response = post(csrf_client(), email="not-an-address")
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert not MagicLink.objects.exists()


def test_a_visitor_sent_by_a_widget_is_offered_the_way_back(django_capture_on_commit_callbacks):
    back = "/widget/decisions/RGVjaXNpb246MQ==/"
    client = csrf_client(f"/sign-in/?{urlencode({'next': back})}")
    assert f'name="next" value="{back}"' in client.get("/sign-in/", {"next": back}).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        post(client, email="ann@example.org", next=back)
    link = next(line for line in mail.outbox[0].body.splitlines() if "/sign-in/?" in line)
    query = parse_qs(urlsplit(link.strip()).query)
    assert query["next"] == [back]
    opened = client.get("/sign-in/", {"token": query["token"][0], "next": back})
    assert f'name="next" value="{back}"' in opened.content.decode()
    signed_in = post(client, token=query["token"][0], next=back).content.decode()
    assert f'<a class="continue" href="{back}">' in signed_in


@pytest.mark.parametrize(
    "elsewhere", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "x/y"]
)
def test_a_way_back_off_this_site_is_ignored(elsewhere, django_capture_on_commit_callbacks):
    client = csrf_client()
    assert 'name="next"' not in client.get("/sign-in/", {"next": elsewhere}).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        post(client, email="ann@example.org", next=elsewhere)
    assert "next=" not in mail.outbox[0].body
    token = token_from_mail(mail.outbox[0])
    signed_in = post(client, token=token, next=elsewhere).content.decode()
    assert "Continue where you were" not in signed_in


def signed_in_browser() -> tuple[Client, str]:
    """A browser signed in on the page: its client (session cookie) and the token shown."""
    UserFactory(username="ann", email="ann@example.org")
    MagicLinkFactory(email="ann@example.org", token=TOKEN)
    client = csrf_client(f"/sign-in/?token={TOKEN}")
    page = post(client, token=TOKEN).content.decode()
    return client, page.split('<code class="token">')[1].split("</code>")[0]


def me_with(raw: str) -> dict[str, Any]:
    answer = Client().post(
        "/graphql",
        json.dumps({"query": ME}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    return answer.json()


def test_the_token_shown_ends_when_its_session_expires():
    client, raw = signed_in_browser()
    assert me_with(raw)["data"] == {"me": {"username": "ann"}}
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    answer = me_with(raw)
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_the_token_shown_ends_when_its_session_is_cleared():
    _, raw = signed_in_browser()
    Session.objects.all().delete()  # what clearsessions does to an expired session
    assert me_with(raw)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_a_token_without_a_session_does_not_expire():
    user = UserFactory(username="ann")
    raw = token_issue(user=user)[1]
    Session.objects.all().delete()
    assert me_with(raw)["data"] == {"me": {"username": "ann"}}
