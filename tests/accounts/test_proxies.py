"""Behind a load balancer: forwarded headers count only from ``TRUSTED_PROXIES``."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.models import MagicLink
from crowdvote.proxies import _networks, forwarded_client

pytestmark = pytest.mark.django_db

BALANCER = "10.0.0.5"
REQUEST_LINK = "mutation ($e: String!) { requestMagicLink(email: $e) { ok errors { code } } }"


@pytest.fixture
def behind_balancer(settings) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/24", "2001:db8::/32"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.MAGIC_LINK_MAX_PER_IP = 2


def request_link(email: str, peer: str, forwarded_for: str | None = None) -> list[str]:
    headers = {"REMOTE_ADDR": peer}
    if forwarded_for is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    response = Client().post(
        "/graphql",
        data=json.dumps({"query": REQUEST_LINK, "variables": {"e": email}}),
        content_type="application/json",
        **headers,
    )
    return [error["code"] for error in response.json()["data"]["requestMagicLink"]["errors"]]


def test_rate_limits_count_each_visitor_behind_the_balancer(behind_balancer):
    assert request_link("a@example.org", BALANCER, "198.51.100.1") == []
    assert request_link("b@example.org", BALANCER, "198.51.100.1") == []
    assert request_link("c@example.org", BALANCER, "198.51.100.1") == ["RATE_LIMITED"]
    assert request_link("c@example.org", BALANCER, "198.51.100.2") == []
    assert set(MagicLink.objects.values_list("requested_ip", flat=True)) == {
        "198.51.100.1",
        "198.51.100.2",
    }


def test_what_a_client_writes_into_the_header_is_ignored(behind_balancer):
    # The balancer appends the real peer; a forged entry further left changes nothing.
    for email in ("a@example.org", "b@example.org"):
        assert request_link(email, BALANCER, f"203.0.113.{len(email)}, 198.51.100.1") == []
    assert request_link("c@example.org", BALANCER, "203.0.113.99, 198.51.100.1") == ["RATE_LIMITED"]


def test_an_untrusted_peer_cannot_pick_its_address(behind_balancer):
    assert request_link("a@example.org", "198.51.100.7", "203.0.113.1") == []
    assert request_link("b@example.org", "198.51.100.7", "203.0.113.2") == []
    assert request_link("c@example.org", "198.51.100.7", "203.0.113.3") == ["RATE_LIMITED"]
    assert set(MagicLink.objects.values_list("requested_ip", flat=True)) == {"198.51.100.7"}


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.MAGIC_LINK_MAX_PER_IP = 1
    assert request_link("a@example.org", BALANCER, "198.51.100.1") == []
    assert request_link("b@example.org", BALANCER, "198.51.100.2") == ["RATE_LIMITED"]


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        (BALANCER, "198.51.100.1", "198.51.100.1"),
        (BALANCER, "198.51.100.1, 10.0.0.9", "198.51.100.1"),  # two of our proxies
        (BALANCER, "10.0.0.8, 10.0.0.9", "10.0.0.8"),  # only proxies: the farthest
        (BALANCER, "garbage, 198.51.100.1", "198.51.100.1"),
        (BALANCER, "198.51.100.1, garbage", None),  # keep the balancer's own address
        (BALANCER, "", None),
        (f"::ffff:{BALANCER}", "198.51.100.1", "198.51.100.1"),
        ("2001:db8::1", "2001:db8:ffff::1, 2001:db9::1", "2001:db9::1"),
        ("198.51.100.7", "203.0.113.1", None),
    ],
)
def test_the_client_is_the_rightmost_untrusted_hop(peer, forwarded_for, client):
    networks = _networks(("10.0.0.0/24", "2001:db8::/32"))
    assert forwarded_client(peer, forwarded_for, networks) == client


@pytest.mark.parametrize(("peer", "secure"), [(BALANCER, True), ("198.51.100.7", False)])
def test_https_is_believed_only_from_the_balancer(behind_balancer, settings, peer, secure):
    settings.SECURE_SSL_REDIRECT = True
    response = Client().get("/sign-in/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == (200 if secure else 301)
