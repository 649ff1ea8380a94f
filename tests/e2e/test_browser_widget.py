"""The live results widget in headless Chromium: live updates in place, and reconnection."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.browser import Page, page
from tests.e2e.conftest import ServerProcess
from tests.e2e.scenarios import serve_public_decision

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
__all__ = ["page"]

# Records each change of the status line, the calculating indicator and the connection
# state, so that brief states are seen whatever the timing.
WATCH = """(() => {
  window.widgetMarker = "first load";
  window.mutationLog = [];
  const root = document.getElementById("widget");
  const note = () => window.mutationLog.push({
    calculating: !document.getElementById("calc-status").hidden,
    calculation: root.dataset.calculation || "",
    connection: root.dataset.connection || "",
  });
  new MutationObserver(note).observe(root, {
    attributes: true, subtree: true, attributeFilter: ["hidden", "data-calculation", "data-connection"],
  });
  return true;
})()"""


def text(page: Page, selector: str) -> str:
    return str(page.evaluate(f"document.querySelector({selector!r}).textContent.trim()"))


def score(page: Page, choice: str) -> str:
    return str(
        page.evaluate(
            f"""[...document.querySelectorAll("#scores .score")]
            .find((li) => li.querySelector(".choice").textContent === {choice!r})
            ?.querySelector(".value").textContent"""
        )
    )


def wait_for_calculation(page: Page, calculation_id: str | None = None, timeout: float = 20) -> str:
    """Wait until the widget shows a result newer than ``calculation_id``; return its id."""
    expression = (
        "document.getElementById('widget').dataset.calculationId"
        if calculation_id is None
        else f"document.getElementById('widget').dataset.calculationId !== {calculation_id!r}"
        " && document.getElementById('widget').dataset.calculationId"
    )
    return str(page.wait_for(expression, timeout, what="a new result in the widget"))


def test_widget_follows_results_live_and_reconnects(embedded: ServerProcess, page: Page) -> None:
    port, base, decision = serve_public_decision(embedded)
    page.resize(420, 900)

    page.navigate(f"{base}/widget/decisions/{decision.id}/")
    first = wait_for_calculation(page)
    assert text(page, "#title") == "Riverside budget"
    assert text(page, "#decision-status") == "Open"
    assert text(page, "#winner") == "No ballots counted yet"
    assert page.evaluate(WATCH)

    decision.cast("ann", park=5, road=1)
    second = wait_for_calculation(page, first)
    page.wait_for("document.getElementById('winner').textContent.includes('Winner: Park')")
    assert score(page, "Park") == "5.00"
    assert score(page, "Road") == "1.00"
    assert page.evaluate("window.widgetMarker") == "first load", "the page reloaded"
    log = page.evaluate("window.mutationLog")
    assert any(entry["calculating"] for entry in log), log
    assert not page.evaluate("!document.getElementById('calc-status').hidden")

    decision.cast("ben", park=2, road=4)
    wait_for_calculation(page, second)
    page.wait_for("document.querySelector('#participation').textContent.includes('2')")
    assert score(page, "Park") == "3.50"
    assert "Prefer Park" in text(page, "#runoff-counts")
    # Top delegates: two direct voters, each their own counted ballot.
    page.wait_for("document.querySelector('#delegates')?.textContent.includes('ben')")
    assert not page.evaluate("document.getElementById('delegates-section').hidden")
    assert text(page, "#delegates").count("1.00") == 2
    assert text(page, "#calculated-at") != "not yet"
    assert page.evaluate(
        "[...document.querySelectorAll('#scores .bar')].every((b) => b.getAttribute('aria-label'))"
    )
    assert page.off_host("127.0.0.1") == []
    assert f"{base}/static/vendor/graphql-ws/graphql-ws.min.js" in page.requested_urls()
    page.screenshot("widget.png")

    # Restart the server on the same port and data: the widget reconnects by itself.
    embedded.stop()
    # Read in the same script as the state: the next attempt may start right after.
    shown = page.wait_for(
        "document.getElementById('widget').dataset.connection === 'waiting'"
        " && document.getElementById('connection').textContent",
        15,
        what="the widget noticing the server went away",
    )
    assert "Reconnecting" in shown
    embedded.start("serve", port=port)
    page.wait_for(
        "document.getElementById('widget').dataset.connection === 'open'",
        30,
        what="the widget reconnecting",
    )
    before = str(page.evaluate("document.getElementById('widget').dataset.calculationId"))
    decision.cast("cat", park=0, road=5)
    wait_for_calculation(page, before)
    page.wait_for("document.getElementById('winner').textContent.includes('Road')", 10)
    assert page.evaluate("window.widgetMarker") == "first load", "the page reloaded"
    connections = [entry["connection"] for entry in page.evaluate("window.mutationLog")]
    assert "waiting" in connections
    assert connections[-1] == "open"
    page.screenshot("widget-reconnected.png")

    assert page.evaluate("document.getElementById('final-badge').hidden")
    decision.close()
    page.wait_for("!document.getElementById('final-badge').hidden", 20, what="the FINAL badge")
    page.wait_for("document.getElementById('decision-status').textContent === 'Closed'", 10)
    assert page.evaluate("window.widgetMarker") == "first load", "the page reloaded"
    page.screenshot("widget-final.png")


def test_widget_fits_a_small_iframe_and_a_wide_screen(embedded: ServerProcess, page: Page) -> None:
    _, base, decision = serve_public_decision(embedded)
    decision.cast("ann", park=5, road=1)
    decision.cast("ben", park=4, road=4)
    page.resize(360, 480)

    page.navigate(f"{base}/widget/decisions/{decision.id}/")
    page.wait_for("document.getElementById('winner').textContent.includes('Winner')")

    assert page.evaluate("document.documentElement.scrollWidth <= 360"), "scrolls sideways"
    page.screenshot("widget-360x480.png")
    page.resize(1400, 900)
    # The viewport, not clientWidth: a page taller than 900 px loses a scrollbar's width.
    page.wait_for("window.innerWidth === 1400", 5)
    assert page.evaluate("document.getElementById('widget').getBoundingClientRect().width < 900")
    page.screenshot("widget-wide.png")


UPDATE_COMMUNITY = """mutation($id: ID!) {
  updateCommunity(input: {communityId: $id, resultsArePublic: false}) { errors { code } } }"""
COMMUNITY = "query($id: ID!) { decision(id: $id) { community { id } } }"


def test_widget_asks_to_sign_in_once_results_are_no_longer_public(
    embedded: ServerProcess, page: Page
) -> None:
    _, base, decision = serve_public_decision(embedded)
    api = decision.api
    decision.cast("ann", park=5, road=1)
    page.resize(420, 640)
    page.navigate(f"{base}/widget/decisions/{decision.id}/")
    page.wait_for("document.getElementById('winner').textContent.includes('Winner: Park')")
    assert page.evaluate("document.getElementById('sign-in-needed').hidden")
    page.evaluate("window.widgetMarker = 'first load', true")

    community = api(COMMUNITY, decision.tokens["ann"], id=decision.id)["decision"]["community"]
    changed = api(UPDATE_COMMUNITY, decision.tokens["ann"], id=community["id"])
    assert changed["updateCommunity"]["errors"] == []
    # A dropped connection: the widget subscribes again, now as a visitor who may not look.
    page.evaluate("window.crowdvoteWidget.client.terminate(), true")

    page.wait_for(
        "!document.getElementById('sign-in-needed').hidden", 20, what="the sign-in notice"
    )
    assert page.evaluate("document.getElementById('results').hidden")
    assert page.evaluate("document.getElementById('connection').hidden")
    assert "Sign in to see these results" in text(page, "#sign-in-needed")
    link = str(page.evaluate("document.querySelector('#sign-in-needed a').href"))
    assert link.startswith(f"{base}/sign-in/?next=%2Fwidget%2Fdecisions%2F")
    assert page.evaluate("window.widgetMarker") == "first load", "the page reloaded"
    page.screenshot("widget-sign-in.png")


class EmbeddingSite:
    """Another site (``localhost``, where the widget is on ``127.0.0.1``) framing the widget."""

    def __init__(self, widget_url: str) -> None:
        page = (
            "<!doctype html><html lang='en'><title>A neighbourhood blog</title>"
            "<h1 style='font:20px sans-serif'>Our park or a new road?</h1>"
            f"<iframe src='{widget_url}' width='360' height='480' title='Live results'"
            " style='border:1px solid #ccc'></iframe></html>"
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_widget_goes_live_inside_another_sites_iframe(embedded: ServerProcess, page: Page) -> None:
    _, base, decision = serve_public_decision(embedded)
    site = EmbeddingSite(f"{base}/widget/decisions/{decision.id}/")
    page.resize(420, 620)
    try:
        page.navigate(site.url)
        with page.inside_frame("iframe"):
            assert page.evaluate("window.location.origin") == base
            page.wait_for("document.getElementById('widget').dataset.connection === 'open'", 20)
            decision.cast("ann", park=2, road=5)
            page.wait_for(
                "document.getElementById('winner').textContent.includes('Winner: Road')",
                20,
                what="the framed widget to show the new result",
            )
        page.screenshot("widget-iframe.png")
    finally:
        site.close()
