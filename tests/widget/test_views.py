"""The widget page: who sees it, how it may be framed, and that it loads nothing off-host."""

from __future__ import annotations

import base64
import hashlib
import re
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.test import Client

from democracy.models import Decision, DecisionStatus
from tests.factories import CommunityFactory, DecisionFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

ASSET = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"')
PINNED = re.compile(r'src="/static/([^"]+)"\s+integrity="sha256-([^"]+)"')
GRAPHQL_WS = "vendor/graphql-ws/graphql-ws.min.js"
# The browser build of the npm package graphql-ws 6.4.2 (umd/graphql-ws.min.js), unchanged.
GRAPHQL_WS_SHA256 = "5f1e250bdea0a551d58272048281dbf5b2fb69faa120160bab49485c72b6f24d"


def global_id(type_name: str, pk: object) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def widget_url(decision: Decision) -> str:
    return f"/widget/decisions/{global_id('Decision', decision.pk)}/"


def public_decision() -> Decision:
    return DecisionFactory(title="Budget", community=CommunityFactory(results_are_public=True))


def test_public_decision_is_shown_to_anyone() -> None:
    response = Client().get(widget_url(public_decision()))

    assert response.status_code == 200
    assert b'<h1 id="title">Budget</h1>' in response.content
    assert response["Content-Type"].startswith("text/html")


def test_the_page_may_be_framed_by_any_site() -> None:
    response = Client().get(widget_url(public_decision()))

    assert "X-Frame-Options" not in response
    assert "frame-ancestors" not in response["Content-Security-Policy"]


def test_other_pages_still_refuse_framing() -> None:
    assert Client().get("/sign-in/")["X-Frame-Options"] == "DENY"


def test_the_page_loads_only_its_own_static_assets() -> None:
    html = Client().get(widget_url(public_decision())).content.decode()

    assets = ASSET.findall(html)
    assert sorted(assets) == [
        f"/static/{GRAPHQL_WS}",
        "/static/widget/widget.css",
        "/static/widget/widget.js",
    ]
    assert "http://" not in html
    assert "https://" not in html


def test_the_vendored_graphql_ws_client_is_the_published_file() -> None:
    vendored, note = finders.find(GRAPHQL_WS), finders.find("vendor/graphql-ws/VENDOR.md")
    assert vendored
    assert note

    assert hashlib.sha256(Path(vendored).read_bytes()).hexdigest() == GRAPHQL_WS_SHA256
    where_from = Path(note).read_text(encoding="utf-8")
    assert "| graphql-ws | 6.4.2 | `graphql-ws.min.js`" in where_from
    assert GRAPHQL_WS_SHA256 in where_from


def test_the_page_pins_the_vendored_client_by_its_hash() -> None:
    html = Client().get(widget_url(public_decision())).content.decode()

    pinned = PINNED.findall(html)

    assert pinned == [(GRAPHQL_WS, base64.b64encode(bytes.fromhex(GRAPHQL_WS_SHA256)).decode())]


def test_content_security_policy_keeps_everything_on_this_host() -> None:
    policy = Client().get(widget_url(public_decision()))["Content-Security-Policy"]

    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy


def test_the_decision_id_reaches_the_script() -> None:
    decision = public_decision()

    html = Client().get(widget_url(decision)).content.decode()

    assert f'data-decision-id="{global_id("Decision", decision.pk)}"' in html
    assert 'data-graphql-path="/graphql"' in html


def test_private_decision_asks_a_visitor_to_sign_in() -> None:
    decision = DecisionFactory(title="Secret plan")

    response = Client().get(widget_url(decision))

    assert response.status_code == 403
    html = response.content.decode()
    assert "Sign in to see these results" in html
    sign_in = re.search(r'href="(/sign-in/\?[^"]*)"', html)
    assert sign_in is not None
    (back,) = parse_qs(urlsplit(unescape(sign_in.group(1))).query)["next"]
    assert unquote(back) == widget_url(decision)  # signing in leads back here
    assert "Secret plan" not in html


def test_private_decision_is_shown_to_a_member() -> None:
    membership = MembershipFactory()
    decision = DecisionFactory(title="Members only", community=membership.community)
    client = Client()
    client.force_login(membership.user)

    response = client.get(widget_url(decision))

    assert response.status_code == 200
    assert b"Members only" in response.content


def test_private_decision_is_not_found_for_a_signed_in_outsider() -> None:
    decision = DecisionFactory()
    client = Client()
    client.force_login(UserFactory())

    assert client.get(widget_url(decision)).status_code == 404


def test_an_unapproved_applicant_does_not_see_a_private_decision() -> None:
    membership = MembershipFactory(is_approved=False)
    decision = DecisionFactory(community=membership.community)
    client = Client()
    client.force_login(membership.user)

    assert client.get(widget_url(decision)).status_code == 404


def test_a_visitor_cannot_tell_an_unknown_decision_from_a_hidden_one() -> None:
    hidden = DecisionFactory(status=DecisionStatus.DRAFT)
    unknown = global_id("Decision", hidden.pk + 1000)

    for_hidden = Client().get(widget_url(hidden))
    for_unknown = Client().get(f"/widget/decisions/{unknown}/")

    assert for_hidden.status_code == for_unknown.status_code == 403

    def without_links(response: HttpResponse) -> str:  # the link back names the ID asked
        return re.sub(r'href="/sign-in/[^"]*"', "", response.content.decode())

    assert without_links(for_unknown) == without_links(for_hidden)


@pytest.mark.parametrize(
    "decision_id",
    [
        global_id("Community", 1),
        global_id("Decision", "abc"),
        global_id("Decision", "²"),
        global_id("Decision", "٣"),
        global_id("Decision", "9" * 40),
        "not-base64!",
        "1",
    ],
)
def test_unknown_or_foreign_ids_are_not_found(decision_id: str) -> None:
    public_decision()

    assert Client().get(f"/widget/decisions/{decision_id}/").status_code == 404


def test_a_community_id_of_a_public_community_is_not_a_decision() -> None:
    decision = public_decision()

    url = f"/widget/decisions/{global_id('Community', decision.community_id)}/"
    assert Client().get(url).status_code == 404


def test_only_safe_methods_are_allowed() -> None:
    assert Client().post(widget_url(public_decision())).status_code == 405
