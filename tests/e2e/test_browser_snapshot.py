"""The widget's FINAL badge links to the final snapshot, which the verifier recounts."""

from __future__ import annotations

import json
from urllib.request import urlopen

import pytest

from crowdvote_verify.check import verify
from crowdvote_verify.document import read
from tests.e2e.browser import Page, page
from tests.e2e.conftest import ServerProcess
from tests.e2e.scenarios import serve_public_decision

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
__all__ = ["page"]


def test_the_final_badge_links_to_the_snapshot_and_shows_its_hash(
    embedded: ServerProcess, page: Page
) -> None:
    _, base, decision = serve_public_decision(embedded)
    decision.cast("ann", park=5, road=1)
    decision.cast("ben", park=2, road=4)
    decision.close()

    page.navigate(f"{base}/widget/decisions/{decision.id}/")
    href = page.wait_for(
        "document.getElementById('final-hash').textContent"
        " && document.getElementById('final-badge').getAttribute('href')",
        30,
        what="the FINAL badge's snapshot link",
    )
    shown = str(page.evaluate("document.getElementById('final-hash').textContent"))
    assert not page.evaluate("document.getElementById('final-badge').hidden")
    with urlopen(f"{base}{href}") as response:
        body = response.read()

    published = json.loads(body)
    assert published["calculation"]["isFinal"] is True
    assert len(shown) == 8
    assert published["hashes"]["publishedHash"].startswith(shown)
    assert verify(read(body)).ok
    page.screenshot("widget-final-snapshot.png")
