"""Golden cases turned into communities of the running system, calculated and downloaded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.test import Client

from calc.services import decision_calculate
from democracy.models import Decision, Membership, Role
from tests.factories import (
    BallotFactory,
    CommunityFactory,
    DecisionFactory,
    FollowingFactory,
    MembershipFactory,
    UserFactory,
)
from tests.schema.conftest import gid

CASES = sorted((Path(__file__).parents[1] / "calc" / "cases").glob("*.json"))
SNAPSHOT_URL = """query($id: ID!) { decision(id: $id) {
  calculation { id status snapshotUrl snapshotHash contentHash } } }"""


def load_case(name: str) -> dict[str, Any]:
    return json.loads((Path(__file__).parents[1] / "calc" / "cases" / f"{name}.json").read_text())


@dataclass
class Built:
    decision: Decision
    members: dict[str, Membership]


def build(case: dict[str, Any], *, anonymous: bool = True, public: bool = True) -> Built:
    """Create the case's community and decision, every other voter anonymous, and calculate.

    Choice titles are the case's choice ids (or its ``choiceTitles``); usernames are
    ``<member id>-<community pk>``, so that a test can search the download for them.
    """
    data = case["input"]
    community = CommunityFactory(
        results_are_public=public, tie_break_policy=data.get("tieBreakPolicy", "LOT")
    )
    titles = case.get("choiceTitles") or {}
    title_of = {c: titles.get(c, c) for c in data["choices"]}
    members: dict[str, Membership] = {}
    for i, m in enumerate(data["members"]):
        role = Role(m["role"])
        members[m["id"]] = MembershipFactory(
            community=community,
            user=UserFactory(username=f"{m['id']}-{community.pk}".lower()),
            role=role,
            is_anonymous=anonymous and role == Role.VOTER and i % 2 == 0,
        )
    decision = DecisionFactory(community=community, choices=list(title_of.values()))
    for f in data.get("followings", []):
        FollowingFactory(
            follower=members[f["follower"]],
            followee=members[f["followee"]],
            tags=f.get("tags", []),
            order=f.get("order", 1),
        )
    for b in data.get("ballots", []):
        BallotFactory(
            decision=decision,
            membership=members[b["member"]],
            tags=b.get("tags", []),
            stars={title_of[c]: v for c, v in b["stars"].items()},
        )
    decision_calculate(decision.pk)
    return Built(decision, members)


def download(graphql_client: Any, decision: Decision, client: Client | None = None) -> bytes:
    """Return the latest calculation's snapshot, found through ``snapshotUrl``."""
    data = graphql_client(SNAPSHOT_URL, id=gid(decision)).data
    url = data["decision"]["calculation"]["snapshotUrl"]
    assert url, data
    response = (client or Client()).get(url)
    assert response.status_code == 200, response.content
    return response.content
