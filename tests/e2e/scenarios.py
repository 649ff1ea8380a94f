"""Data for the browser tests, built over HTTP as a front end would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.conftest import HttpGraphQL, ServerProcess

CREATE_COMMUNITY = """mutation { createCommunity(input: {name: "Riverside", resultsArePublic: true}) {
  community { id } errors { code } } }"""
JOIN = """mutation($id: ID!) { joinCommunity(communityId: $id) { membership { id } errors { code } } }"""
CREATE_DECISION = """mutation($c: ID!, $closes: DateTime!) { createDecision(input: {communityId: $c,
  title: "Riverside budget", closesAt: $closes, choices: [{title: "Park"}, {title: "Road"}]}) {
  decision { id choices { id title } } errors { code } } }"""
CLOSE = """mutation($id: ID!) { closeDecision(decisionId: $id) { decision { status } errors { code } } }"""
PUBLISH = """mutation($id: ID!) { publishDecision(decisionId: $id) { decision { status } errors { code } } }"""
CAST = """mutation($d: ID!, $stars: [StarsInput!]!) {
  castBallot(input: {decisionId: $d, stars: $stars}) { errors { code } calculations { id } } }"""


class PublicDecision:
    """A public community with three members and an open decision, built over HTTP."""

    def __init__(self, api: HttpGraphQL, tokens: dict[str, str]) -> None:
        self.api, self.tokens = api, tokens
        community = api(CREATE_COMMUNITY, tokens["ann"])["createCommunity"]["community"]["id"]
        for name in ("ben", "cat"):
            assert api(JOIN, tokens[name], id=community)["joinCommunity"]["errors"] == []
        closes = (datetime.now(UTC) + timedelta(days=3)).isoformat()
        created = api(CREATE_DECISION, tokens["ann"], c=community, closes=closes)["createDecision"]
        self.id = created["decision"]["id"]
        self.choices = {c["title"]: c["id"] for c in created["decision"]["choices"]}
        assert api(PUBLISH, tokens["ann"], id=self.id)["publishDecision"]["errors"] == []

    def cast(self, name: str, park: int, road: int) -> dict[str, Any]:
        stars = [
            {"choiceId": self.choices["Park"], "stars": park},
            {"choiceId": self.choices["Road"], "stars": road},
        ]
        result: dict[str, Any] = self.api(CAST, self.tokens[name], d=self.id, stars=stars)
        assert result["castBallot"]["errors"] == []
        return result

    def close(self) -> None:
        closed = self.api(CLOSE, self.tokens["ann"], id=self.id)["closeDecision"]
        assert closed["errors"] == []


def serve_public_decision(embedded: ServerProcess) -> tuple[int, str, PublicDecision]:
    """Start ``serve`` and build a PublicDecision on it; return its port, base URL and that."""
    port = embedded.start("serve")
    base = f"http://127.0.0.1:{port}"
    decision = PublicDecision(HttpGraphQL(f"{base}/graphql"), embedded.tokens("ann", "ben", "cat"))
    return port, base, decision
