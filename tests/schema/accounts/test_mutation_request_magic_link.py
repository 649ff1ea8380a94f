"""``requestMagicLink(email:)``."""

from __future__ import annotations

import pytest
from django.core import mail

from accounts.models import MagicLink
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REQUEST_MAGIC_LINK = """
mutation ($email: String!) {
  requestMagicLink(email: $email) { ok errors { code field message } }
}
"""


def test_sends_a_link_and_answers_ok(graphql_as, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = graphql_as(None)(REQUEST_MAGIC_LINK, email="ann@example.org")
    assert response.data["requestMagicLink"] == {"ok": True, "errors": []}
    assert mail.outbox[0].to == ["ann@example.org"]
    assert MagicLink.objects.get().requested_ip == "127.0.0.1"


def test_known_and_unknown_addresses_get_identical_answers(graphql_as):
    UserFactory(username="ann", email="ann@example.org")
    client = graphql_as(None)
    known = client(REQUEST_MAGIC_LINK, email="ann@example.org").body
    unknown = client(REQUEST_MAGIC_LINK, email="nobody@example.org").body
    assert known == unknown


def test_invalid_address_is_a_user_error(graphql_as, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = graphql_as(None)(REQUEST_MAGIC_LINK, email="nope")
    payload = response.data["requestMagicLink"]
    assert payload["ok"] is False
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_EMAIL", "email")]
    assert mail.outbox == []


def test_too_many_requests_are_rate_limited(
    graphql_as, settings, django_capture_on_commit_callbacks
):
    settings.MAGIC_LINK_MAX_PER_IP = 1
    client = graphql_as(None)
    with django_capture_on_commit_callbacks(execute=True):
        client(REQUEST_MAGIC_LINK, email="a@example.org")
        response = client(REQUEST_MAGIC_LINK, email="b@example.org")
    codes = [e["code"] for e in response.data["requestMagicLink"]["errors"]]
    assert codes == ["RATE_LIMITED"]
    assert len(mail.outbox) == 1
