"""Embedded end to end: `serve`, a real websocket client, changes over HTTP, live tallies."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosedError

from tests.e2e.conftest import HttpGraphQL, ServerProcess
from tests.e2e.wsclient import LEGACY_WS, TRANSPORT_WS, GraphQLSocket

pytestmark = pytest.mark.e2e

CREATE_COMMUNITY = """mutation { createCommunity(input: {name: "Riverside"}) {
  community { id myMembership { id } } } }"""
JOIN = """mutation($id: ID!, $role: Role) { joinCommunity(communityId: $id, role: $role) {
  membership { id } calculations { id status } errors { code } } }"""
LEAVE = """mutation($id: ID!) { leaveCommunity(communityId: $id) { ok calculations { id } } }"""
FOLLOW = """mutation($c: ID!, $f: ID!, $tags: [String!]) {
  follow(input: {communityId: $c, followeeId: $f, tags: $tags}) { errors { code } calculations { id } } }"""
UNFOLLOW = """mutation($c: ID!, $f: ID!) { unfollow(communityId: $c, followeeId: $f) { ok } }"""
CREATE_DECISION = """mutation($c: ID!, $closes: DateTime!) { createDecision(input: {communityId: $c,
  title: "Budget", closesAt: $closes, choices: [{title: "park"}, {title: "road"}]}) {
  decision { id choices { id title } } } }"""
PUBLISH = """mutation($id: ID!) { publishDecision(decisionId: $id) { decision { status } } }"""
CAST = """mutation($d: ID!, $stars: [StarsInput!]!, $tags: [String!]) {
  castBallot(input: {decisionId: $d, stars: $stars, tags: $tags}) {
    errors { code } calculations { id status } } }"""
RESULTS = """subscription($id: ID!) { decisionResults(decisionId: $id) {
  calculationId isFinal winner { title } scores { choice { title } totalStars }
  participation { countedBallots delegatedBallots abstentions } } }"""
STATUS = """subscription($id: ID!) { calculationStatus(decisionId: $id) { id status isFinal } }"""


def totals(event: dict[str, Any]) -> dict[str, Decimal]:
    return {
        s["choice"]["title"]: Decimal(s["totalStars"]) for s in event["decisionResults"]["scores"]
    }


def has_totals(park: str, road: str) -> Any:
    return lambda event: totals(event) == {"park": Decimal(park), "road": Decimal(road)}


class Community:
    """Example 1 of docs/voting-rules.md, built up one change at a time over HTTP."""

    def __init__(self, api: HttpGraphQL, tokens: dict[str, str]) -> None:
        self.api, self.tokens = api, tokens
        created = api(CREATE_COMMUNITY, tokens["ann"])["createCommunity"]["community"]
        self.id = created["id"]
        self.members = {"ann": created["myMembership"]["id"]}
        for name in ("ben", "cat", "dan", "fay", "gus"):
            self.join(name)
        self.join("eve", role="LOBBYIST")
        closes = (datetime.now(UTC) + timedelta(days=3)).isoformat()
        decision = api(CREATE_DECISION, tokens["ann"], c=self.id, closes=closes)["createDecision"]
        self.decision = decision["decision"]["id"]
        self.choices = {c["title"]: c["id"] for c in decision["decision"]["choices"]}
        api(PUBLISH, tokens["ann"], id=self.decision)

    def join(self, name: str, role: str = "VOTER") -> dict[str, Any]:
        joined = self.api(JOIN, self.tokens[name], id=self.id, role=role)["joinCommunity"]
        self.members[name] = joined["membership"]["id"]
        return joined

    def cast(self, name: str, park: int, road: int, tags: list[str]) -> dict[str, Any]:
        stars = [
            {"choiceId": self.choices["park"], "stars": park},
            {"choiceId": self.choices["road"], "stars": road},
        ]
        return self.api(CAST, self.tokens[name], d=self.decision, stars=stars, tags=tags)[
            "castBallot"
        ]

    def follow(self, who: str, whom: str, tags: list[str]) -> None:
        result = self.api(FOLLOW, self.tokens[who], c=self.id, f=self.members[whom], tags=tags)
        assert result["follow"]["errors"] == []


async def scenario(community: Community, ws_url: str, protocol: str) -> None:
    async with GraphQLSocket(ws_url, community.tokens["ann"], protocol) as socket:
        await socket.subscribe("status", STATUS, id=community.decision)
        await socket.subscribe("results", RESULTS, id=community.decision)
        # Publishing already produced a result with no ballots counted.
        await socket.wait_for("results", lambda e: e["decisionResults"]["winner"] is None)

        cast = await asyncio.to_thread(community.cast, "ann", 5, 1, ["budget"])
        queued_id = cast["calculations"][0]["id"]
        assert cast["calculations"][0]["status"] == "QUEUED"
        await socket.wait_for("results", has_totals("5", "1"))
        # Each subscription streams on its own: the status may trail the result.
        await socket.wait_for(
            "status",
            lambda e: (
                e["calculationStatus"]["id"] == queued_id
                and e["calculationStatus"]["status"] == "COMPLETED"
            ),
        )
        seen = {
            e["calculationStatus"]["status"]
            for e in socket.events["status"]
            if e["calculationStatus"]["id"] == queued_id
        }
        assert {"STAGING", "TALLYING", "COMPLETED"} <= seen

        steps = [
            (lambda: community.cast("eve", 2, 4, ["budget", "parks"]), ("5", "1")),
            (lambda: community.follow("ben", "ann", ["budget"]), ("10", "2")),
            (lambda: community.follow("ben", "eve", []), ("8.5", "3.5")),
            (lambda: community.follow("cat", "ben", ["budget"]), ("12", "6")),
            (lambda: community.follow("dan", "ben", ["schools"]), ("12", "6")),
            (lambda: community.follow("fay", "cat", []), ("15.5", "8.5")),
            (
                lambda: community.api(
                    UNFOLLOW, community.tokens["cat"], c=community.id, f=community.members["ben"]
                ),
                ("8.5", "3.5"),
            ),
            (lambda: community.follow("gus", "ann", []), ("13.5", "4.5")),
            (
                lambda: community.api(LEAVE, community.tokens["gus"], id=community.id),
                ("8.5", "3.5"),
            ),
        ]
        for change, (park, road) in steps:
            before = len(socket.events["results"])
            await asyncio.to_thread(change)
            expected = has_totals(park, road)
            event = await socket.wait_for(
                "results",
                lambda e, n=before, expected=expected: (
                    socket.events["results"].index(e) >= n and expected(e)
                ),
            )
            assert event["decisionResults"]["winner"] == {"title": "park"}


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
def test_subscribers_see_each_change_recalculated(embedded: ServerProcess, protocol: str) -> None:
    port = embedded.start("serve")
    api = HttpGraphQL(f"http://127.0.0.1:{port}/graphql")
    community = Community(api, embedded.tokens("ann", "ben", "cat", "dan", "eve", "fay", "gus"))
    asyncio.run(scenario(community, f"ws://127.0.0.1:{port}/graphql", protocol))


def test_a_bad_token_is_refused_at_connection(embedded: ServerProcess) -> None:
    port = embedded.start("serve")

    async def connect() -> None:
        async with GraphQLSocket(f"ws://127.0.0.1:{port}/graphql", "cv_not-a-token"):
            pass

    with pytest.raises(ConnectionClosedError) as closed:
        asyncio.run(connect())
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403  # Forbidden, before any acknowledgement.
