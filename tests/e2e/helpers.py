"""A two-choice decision built over HTTP, and plain SQL on a running setup's database."""

from __future__ import annotations

import secrets
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from strawberry.relay import GlobalID

from devtools.benchsetup import HttpGraphQL

CREATE_COMMUNITY = """mutation($name: String!) { createCommunity(input: {name: $name}) {
  community { id myMembership { id } } errors { code } } }"""
JOIN = """mutation($id: ID!) { joinCommunity(communityId: $id) { membership { id } errors { code } } }"""
CREATE_DECISION = """mutation($c: ID!, $closes: DateTime!) { createDecision(input: {communityId: $c,
  title: "Budget", closesAt: $closes, choices: [{title: "park"}, {title: "road"}]}) {
  decision { id choices { id title } } errors { code } } }"""
PUBLISH = """mutation($id: ID!) { publishDecision(decisionId: $id) { decision { status } errors { code } } }"""
CAST = """mutation($d: ID!, $stars: [StarsInput!]!) { castBallot(input: {decisionId: $d, stars: $stars}) {
  errors { code } calculations { id status } } }"""
MY_BALLOT = (
    """query($id: ID!) { decision(id: $id) { myBallot { stars { choice { title } stars } } } }"""
)
RESULTS_NOW = """query($id: ID!) { decision(id: $id) { results { calculationId
  scores { choice { title } totalStars } participation { directBallots } } } }"""
RESULTS = """subscription($id: ID!) { decisionResults(decisionId: $id) {
  calculationId scores { choice { title } totalStars } participation { countedBallots } } }"""
RUNNING = ("CREATING", "READY", "STAGING", "TALLYING")


def pk(global_id: str) -> int:
    """Return the primary key inside a Relay global ID."""
    return int(GlobalID.from_id(global_id).node_id)


def totals(results: dict[str, Any]) -> dict[str, Decimal]:
    """Return {choice title: total stars} of a DecisionResults object."""
    return {s["choice"]["title"]: Decimal(s["totalStars"]) for s in results["scores"]}


@dataclass
class Vote:
    """A community with a published two-choice decision ("park", "road")."""

    api: HttpGraphQL
    tokens: dict[str, str]
    members: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        manager, *others = self.tokens
        name = f"Riverside {secrets.token_hex(4)}"
        created = self.api(CREATE_COMMUNITY, self.tokens[manager], name=name)["createCommunity"]
        self.community = created["community"]["id"]
        self.members[manager] = created["community"]["myMembership"]["id"]
        for member in others:
            joined = self.api(JOIN, self.tokens[member], id=self.community)["joinCommunity"]
            assert joined["errors"] == [], joined
            self.members[member] = joined["membership"]["id"]
        closes = (datetime.now(UTC) + timedelta(days=3)).isoformat()
        decision = self.api(CREATE_DECISION, self.tokens[manager], c=self.community, closes=closes)
        self.decision = decision["createDecision"]["decision"]["id"]
        self.decision_pk = pk(self.decision)
        self.choices = {
            c["title"]: c["id"] for c in decision["createDecision"]["decision"]["choices"]
        }
        assert (
            self.api(PUBLISH, self.tokens[manager], id=self.decision)["publishDecision"]["errors"]
            == []
        )

    def cast(
        self, member: str, park: int, road: int, api: HttpGraphQL | None = None
    ) -> dict[str, Any]:
        stars = [
            {"choiceId": self.choices["park"], "stars": park},
            {"choiceId": self.choices["road"], "stars": road},
        ]
        cast = (api or self.api)(CAST, self.tokens[member], d=self.decision, stars=stars)
        assert cast["castBallot"]["errors"] == [], cast
        result: dict[str, Any] = cast["castBallot"]
        return result

    def my_ballot(self, member: str) -> dict[str, int]:
        ballot = self.api(MY_BALLOT, self.tokens[member], id=self.decision)["decision"]["myBallot"]
        return {s["choice"]["title"]: int(Decimal(s["stars"])) for s in ballot["stars"]}

    def results(self) -> dict[str, Any] | None:
        first = next(iter(self.tokens))
        found: dict[str, Any] | None = self.api(RESULTS_NOW, self.tokens[first], id=self.decision)[
            "decision"
        ]["results"]
        return found


class Sql:
    """Read-mostly SQL on the database of a running setup (PostgreSQL or an SQLite file).

    Each thread keeps one connection: polling must not add a connection per query.
    """

    def __init__(self, database: str | Path) -> None:
        self.database = database
        self.local = threading.local()

    def __call__(self, query: str) -> list[tuple[Any, ...]]:
        conn = getattr(self.local, "conn", None)
        if isinstance(self.database, Path):
            if conn is None:
                conn = self.local.conn = sqlite3.connect(
                    self.database, timeout=20, isolation_level=None, check_same_thread=False
                )
            return conn.execute(query).fetchall()
        if conn is None or conn.closed:
            conn = self.local.conn = psycopg.connect(
                self.database, autocommit=True, connect_timeout=5
            )
        cursor = conn.execute(query)
        return list(cursor.fetchall()) if cursor.description else []

    def running(self, decision_pk: int) -> int:
        """Return how many calculations of the decision are in a running status now."""
        statuses = ", ".join(f"'{s}'" for s in RUNNING)
        return int(
            self(
                "SELECT COUNT(*) FROM calc_calculation "
                f"WHERE decision_id = {decision_pk} AND status IN ({statuses})"
            )[0][0]
        )
