"""A script does everything people do through /graphql only, against a real `serve`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import HttpGraphQL, ServerProcess

pytestmark = pytest.mark.e2e

CREATE_COMMUNITY = """mutation($name: String!) { createCommunity(input: {name: $name}) {
  community { id myMembership { id } } errors { code } } }"""
JOIN = """mutation($id: ID!, $role: Role) { joinCommunity(communityId: $id, role: $role) {
  membership { id role } errors { code } } }"""
FOLLOW = """mutation($c: ID!, $f: ID!, $tags: [String!]) {
  follow(input: {communityId: $c, followeeId: $f, tags: $tags}) { following { tags } errors { code } } }"""
CREATE_DECISION = """mutation($c: ID!, $closes: DateTime!) { createDecision(input: {communityId: $c,
  title: "Park budget", closesAt: $closes, choices: [{title: "park"}, {title: "road"}]}) {
  decision { id choices { id title } } errors { code } } }"""
PUBLISH = """mutation($id: ID!) { publishDecision(decisionId: $id) { decision { status } errors { code } } }"""
CAST = """mutation($d: ID!, $stars: [StarsInput!]!, $tags: [String!]) {
  castBallot(input: {decisionId: $d, stars: $stars, tags: $tags}) { ballot { stars { stars } } errors { code } } }"""
RETRACT = """mutation($d: ID!) { retractBallot(decisionId: $d) { ok errors { code } } }"""
READ = """query($id: ID!) { decision(id: $id) { status myBallot { tags stars { choice { title } stars } } }
  }"""
MEMBERS = """query($id: ID!) { community(id: $id) { members { totalCount edges { node {
  displayName role following { followee { displayName } tags } } } } } }"""


def test_a_script_runs_a_decision_through_graphql_only(embedded: ServerProcess) -> None:
    port = embedded.start("serve")
    api = HttpGraphQL(f"http://127.0.0.1:{port}/graphql")
    tokens = embedded.tokens("ann", "ben", "eve")

    created = api(CREATE_COMMUNITY, tokens["ann"], name="Riverside")["createCommunity"]
    community = created["community"]["id"]
    ann = created["community"]["myMembership"]["id"]
    ben = api(JOIN, tokens["ben"], id=community)["joinCommunity"]["membership"]["id"]
    eve_join = api(JOIN, tokens["eve"], id=community, role="LOBBYIST")["joinCommunity"]
    assert eve_join["membership"]["role"] == "LOBBYIST"
    eve = eve_join["membership"]["id"]
    assert api(FOLLOW, tokens["ben"], c=community, f=ann, tags=["Budget"])["follow"] == {
        "following": {"tags": ["budget"]},
        "errors": [],
    }
    api(FOLLOW, tokens["ben"], c=community, f=eve, tags=[])

    closes = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    decision = api(CREATE_DECISION, tokens["ann"], c=community, closes=closes)["createDecision"]
    decision_id = decision["decision"]["id"]
    park, road = (choice["id"] for choice in decision["decision"]["choices"])
    assert api(PUBLISH, tokens["ann"], id=decision_id)["publishDecision"]["decision"] == {
        "status": "OPEN"
    }

    api(CAST, tokens["ann"], d=decision_id, stars=[{"choiceId": park, "stars": 5}], tags=["budget"])
    replaced = api(
        CAST,
        tokens["ann"],
        d=decision_id,
        stars=[{"choiceId": park, "stars": 4}, {"choiceId": road, "stars": 1}],
    )
    assert replaced["castBallot"]["errors"] == []
    assert api(READ, tokens["ann"], id=decision_id)["decision"]["myBallot"] == {
        "tags": [],
        "stars": [
            {"choice": {"title": "park"}, "stars": "4.00000000"},
            {"choice": {"title": "road"}, "stars": "1.00000000"},
        ],
    }
    api(CAST, tokens["eve"], d=decision_id, stars=[{"choiceId": road, "stars": 5}])
    assert api(RETRACT, tokens["eve"], d=decision_id)["retractBallot"] == {"ok": True, "errors": []}
    assert api(READ, tokens["eve"], id=decision_id)["decision"]["myBallot"] is None

    members = api(MEMBERS, tokens["ben"], id=community)["community"]["members"]
    assert members["totalCount"] == 3
    ben_node = next(e["node"] for e in members["edges"] if e["node"]["displayName"] == "ben")
    assert ben_node["following"] == [
        {"followee": {"displayName": "ann"}, "tags": ["budget"]},
        {"followee": {"displayName": "eve"}, "tags": []},
    ]
    assert ben
