"""The widget's timeline of results and, for a signed-in member, "Your ballot", in Chromium."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.e2e.browser import Page, page
from tests.e2e.conftest import ServerProcess
from tests.e2e.scenarios import serve_public_decision

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
__all__ = ["page"]

MEMBERS = """query($id: ID!) { decision(id: $id) { community { id
  members { edges { node { id displayName } } } } } }"""
JOIN = """mutation($id: ID!) { joinCommunity(communityId: $id) { errors { code } } }"""
FOLLOW = """mutation($c: ID!, $f: ID!) { follow(input: {communityId: $c, followeeId: $f}) {
  errors { code } } }"""
SIGN_OUT = "mutation { signOut { ok } }"
POINTS = "document.getElementById('timeline').dataset.points"


def emailed_token(log: Path, timeout: float = 10) -> str:
    """Return the token of the sign-in link the console email backend wrote to the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.findall(r"/sign-in/\?token=([\w-]+)", log.read_text(errors="replace"))
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no sign-in link in {log}")


# The sign-in page sends "Referrer-Policy: no-referrer", with which Chromium posts its forms
# with "Origin: null" and the CSRF check refuses them; these posts name the policy themselves.
POST_FORM = """fetch({form}.action, {{method: "POST", referrerPolicy: "same-origin",
  body: new URLSearchParams(new FormData({form}))}}).then((r) => r.text())"""


def sign_in(page: Page, base: str, log: Path, email: str) -> str:
    """Sign the browser in by emailed link, as a visitor does; return the token it shows."""
    page.navigate(f"{base}/sign-in/")
    form = "document.querySelector('input[name=email]').form"
    page.evaluate(f"({form}.email.value = {email!r}, true)")
    assert email in page.evaluate(POST_FORM.format(form=form))
    page.navigate(f"{base}/sign-in/?token={emailed_token(log)}")
    signed_in = page.evaluate(POST_FORM.format(form="document.querySelector('form')"))
    token = re.search(r'<code class="token">([^<]+)</code>', signed_in)
    assert token, signed_in
    return token.group(1)


def test_widget_draws_the_timeline_and_your_ballot_live(
    embedded: ServerProcess, page: Page
) -> None:
    port, base, decision = serve_public_decision(embedded)
    api = decision.api
    widget = f"{base}/widget/decisions/{decision.id}/"
    page.resize(420, 1200)

    # Signed out: the timeline grows with each result; nothing personal is shown.
    decision.cast("ann", park=5, road=1)
    page.navigate(widget)
    page.wait_for(f"{POINTS} >= 1", what="the timeline")
    decision.cast("ben", park=1, road=4)
    page.wait_for(f"{POINTS} >= 2", what="a live point on the timeline")
    assert page.evaluate("document.getElementById('my-ballot').hidden")
    series = page.evaluate(
        "[...document.querySelectorAll('#timeline polyline')]"
        ".map((l) => [l.querySelector('title').textContent, l.dataset.values])"
    )
    values = {title: numbers.split()[-2:] for title, numbers in series}
    assert values == {"Park": ["5", "3"], "Road": ["1", "2.5"]}, series
    assert "Park" in page.evaluate("document.getElementById('timeline-legend').textContent")

    # Dan signs in in this browser, joins and follows Ben with the token he was shown.
    dan = sign_in(page, base, embedded.workdir / f"serve-{port}.log", "dan@example.org")
    found = api(MEMBERS, decision.tokens["ann"], id=decision.id)["decision"]["community"]
    assert api(JOIN, dan, id=found["id"])["joinCommunity"]["errors"] == []
    ben = next(
        e["node"]["id"] for e in found["members"]["edges"] if e["node"]["displayName"] == "ben"
    )
    assert api(FOLLOW, dan, c=found["id"], f=ben)["follow"]["errors"] == []

    page.navigate(widget)
    page.wait_for(
        "document.getElementById('widget').dataset.myBallot === 'DELEGATED'",
        what="Dan's delegated ballot",
        show="document.getElementById('my-ballot').textContent",
    )
    assert "Your ballot" in page.evaluate("document.getElementById('my-ballot').textContent")
    assert "ben" in page.evaluate("document.getElementById('my-ballot-sources').textContent")
    assert "100% of your ballot" in page.evaluate(
        "document.getElementById('my-ballot-sources').textContent"
    )
    page.evaluate("(window.widgetMarker = 'signed in', true)")

    # Ben changes his mind: Dan's ballot follows in place, and the timeline grows.
    points = int(page.evaluate(POINTS))
    decision.cast("ben", park=3, road=0)
    page.wait_for(
        "document.querySelector('#my-ballot-stars li')?.textContent.includes('3 ★')",
        what="Dan's ballot to follow Ben's",
        show="document.getElementById('my-ballot-stars').textContent",
    )
    page.wait_for(f"{POINTS} > {points}", what="the new result on the timeline")
    assert page.evaluate("window.widgetMarker") == "signed in", "the page reloaded"
    page.screenshot("widget-timeline-your-ballot.png")

    # Signing out ends the subscription, and the widget forgets the ballot.
    api(SIGN_OUT, dan)
    page.wait_for(
        "document.getElementById('my-ballot').hidden"
        " && !document.getElementById('my-ballot-stars').children.length",
        what="the ballot to disappear after sign-out",
    )
