"""GraphiQL in headless Chromium: it renders from local files and runs a live subscription."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from tests.e2e.browser import Page, page
from tests.e2e.conftest import HttpGraphQL, ServerProcess
from tests.e2e.scenarios import PublicDecision

pytestmark = pytest.mark.e2e
__all__ = ["page"]

ASSET = re.compile(r'<(?:script|link)\b[^>]*?\b(?:src|href)="(/static/[^"]+)"')
EDITOR = "document.querySelector({selector!r}).querySelector('.CodeMirror').CodeMirror"
QUERY_EDITOR = EDITOR.format(selector=".graphiql-query-editor")
RESULT = EDITOR.format(selector=".result-window")
EXECUTE = "document.querySelector('.graphiql-execute-button')"
# The Variables pane comes first in the editor tools, the Headers pane second.
TOOL_EDITOR = (
    "document.querySelectorAll('.graphiql-editor-tool .graphiql-editor')[{index}]"
    ".querySelector('.CodeMirror').CodeMirror"
)
VARIABLES, HEADERS = TOOL_EDITOR.format(index=0), TOOL_EDITOR.format(index=1)


def serve_with_graphiql(embedded: ServerProcess) -> str:
    embedded.env["GRAPHIQL"] = "1"
    return f"http://127.0.0.1:{embedded.start('serve')}"


def get(url: str, accept: str = "*/*") -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode("utf-8", errors="replace")


def test_graphiql_assets_are_served_by_crowdvote_itself(embedded: ServerProcess) -> None:
    base = serve_with_graphiql(embedded)

    status, html = get(f"{base}/graphql", accept="text/html")

    assert status == 200
    assert not re.search(r"https?://", html)
    assets = ASSET.findall(html)
    assert len(assets) == 9
    for asset in assets:
        assert get(f"{base}{asset}")[0] == 200, asset


@pytest.mark.browser
def test_graphiql_runs_a_saved_subscription_tab(embedded: ServerProcess, page: Page) -> None:
    base = serve_with_graphiql(embedded)
    decision = PublicDecision(HttpGraphQL(f"{base}/graphql"), embedded.tokens("ann", "ben", "cat"))
    page.resize(1400, 900)

    page.navigate(f"{base}/graphql")
    page.wait_for(f"!!{QUERY_EDITOR}", 30, what="the GraphiQL editor")
    assert page.evaluate("!!document.querySelector('.graphiql-container .graphiql-sessions')")
    tabs = page.evaluate("[...document.querySelectorAll('.graphiql-tab')].map((t) => t.innerText)")
    assert [t.strip() for t in tabs] == [
        "RequestMagicLink",
        "CastBallot",
        "Follow",
        "DecisionResults",
    ]
    assert "requestMagicLink(email: $email)" in page.evaluate(f"{QUERY_EDITOR}.getValue()")

    page.evaluate(
        "[...document.querySelectorAll('.graphiql-tab')]"
        ".find((t) => t.innerText.includes('DecisionResults')).querySelector('button').click()"
    )
    page.wait_for(f"{QUERY_EDITOR}.getValue().includes('subscription DecisionResults')", 5)
    assert "Authorization" in page.evaluate(f"{HEADERS}.getValue()")
    variables = json.dumps({"decisionId": decision.id})
    headers = json.dumps({"Authorization": f"Bearer {decision.tokens['ann']}"})
    page.evaluate(f"{VARIABLES}.setValue({variables!r}), {HEADERS}.setValue({headers!r}), true")
    # GraphiQL takes edits into its tab state after a debounce: run once they are in.
    page.wait_for(
        f"(localStorage.getItem('graphiql:tabState') || '').includes({decision.id!r})",
        5,
        what="GraphiQL to take the variables",
    )
    page.evaluate(f"{EXECUTE}.click(), true")
    page.wait_for(f"{EXECUTE}.getAttribute('aria-label').startsWith('Stop')", 5, what="the run")

    page.wait_for(
        f"{RESULT}.getValue().includes('\"countedBallots\": 0')",
        20,
        what="the first result",
        show=f"{RESULT}.getValue()",
    )
    decision.cast("ann", park=5, road=1)
    page.wait_for(
        f"{RESULT}.getValue().includes('\"countedBallots\": 1')",
        20,
        what="a new result",
        show=f"{RESULT}.getValue()",
    )
    result = json.loads(page.evaluate(f"{RESULT}.getValue()"))
    assert result["data"]["decisionResults"]["winner"] == {"title": "Park"}
    sockets = [url for url in page.requested_urls() if url.startswith("ws://")]
    assert sockets == [f"{base.replace('http', 'ws')}/graphql"]
    assert page.off_host("127.0.0.1") == []
    page.screenshot("graphiql.png")
