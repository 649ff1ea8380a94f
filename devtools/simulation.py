"""Keep a community moving: random ballots and follows sent through the public API.

The simulator is a client like any other: it signs members in with tokens and calls
``/graphql``, so every change takes the real path (services, signals, worker, broadcasts)
in whichever setup the server runs.
"""

from __future__ import annotations

import json
import random
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch
from strawberry.relay import to_base64

from accounts.models import ApiToken
from accounts.services.tokens import token_issue, token_revoke
from democracy.models import Choice, Decision, DecisionStatus, Membership

TAGS = ("budget", "parks", "safety", "routes", "schools", "culture")
CAST = """mutation($input: CastBallotInput!) {
  castBallot(input: $input) { errors { code message } } }"""
RETRACT = """mutation($id: ID!) { retractBallot(decisionId: $id) { errors { code } } }"""
FOLLOW = """mutation($input: FollowInput!) { follow(input: $input) { errors { code message } } }"""
UNFOLLOW = """mutation($c: ID!, $f: ID!) {
  unfollow(communityId: $c, followeeId: $f) { errors { code } } }"""


@dataclass(frozen=True, slots=True)
class Actor:
    membership: Membership
    token: str


@dataclass(frozen=True, slots=True)
class Action:
    description: str
    document: str
    variables: dict[str, Any]
    token: str


class Simulation:
    """Random but reproducible actions (``seed``) over the open decisions of the database."""

    def __init__(self, *, url: str, seed: int | None = None) -> None:
        self.url = url
        self.random = random.Random(seed)
        self.tokens: list[ApiToken] = []
        choices = Prefetch("choices", queryset=Choice.objects.order_by("position", "id"))
        self.decisions = list(
            Decision.objects.filter(status=DecisionStatus.OPEN).prefetch_related(choices)
        )
        members = Membership.objects.filter(
            is_approved=True, community__in={d.community_id for d in self.decisions}
        ).select_related("user")
        self.actors: dict[int, list[Actor]] = {}
        for membership in members:
            token, raw = token_issue(user=membership.user, name="simulate")
            self.tokens.append(token)
            self.actors.setdefault(membership.community_id, []).append(Actor(membership, raw))

    def close(self) -> None:
        """Revoke the tokens the simulation issued."""
        for token in self.tokens:
            token_revoke(token=token)

    def next_action(self) -> Action:
        decision = self.random.choice(self.decisions)
        actors = self.actors[decision.community_id]
        actor = self.random.choice(actors)
        name = actor.membership.user.username
        roll = self.random.random()
        if roll < 0.75 or len(actors) < 2:
            stars = [
                {"choiceId": to_base64("Choice", c.pk), "stars": self.random.randint(0, 5)}
                for c in decision.choices.all()
            ]
            tags = self.random.sample(TAGS, self.random.randint(1, 2))
            return Action(
                f"{name} votes on '{decision.title}'",
                CAST,
                {
                    "input": {
                        "decisionId": to_base64("Decision", decision.pk),
                        "stars": stars,
                        "tags": tags,
                    }
                },
                actor.token,
            )
        if roll < 0.82:
            return Action(
                f"{name} retracts on '{decision.title}'",
                RETRACT,
                {"id": to_base64("Decision", decision.pk)},
                actor.token,
            )
        other = self.random.choice([a for a in actors if a is not actor])
        community = to_base64("Community", decision.community_id)
        followee = to_base64("Membership", other.membership.pk)
        if roll < 0.95:
            tags = self.random.sample(TAGS, self.random.randint(0, 2))
            return Action(
                f"{name} follows {other.membership.user.username} on {', '.join(tags) or 'all'}",
                FOLLOW,
                {"input": {"communityId": community, "followeeId": followee, "tags": tags}},
                actor.token,
            )
        return Action(
            f"{name} unfollows {other.membership.user.username}",
            UNFOLLOW,
            {"c": community, "f": followee},
            actor.token,
        )

    def perform(self, action: Action) -> str:
        """Send one action; return "ok" or the first error code (a refusal is normal)."""
        request = urllib.request.Request(
            self.url,
            data=json.dumps({"query": action.document, "variables": action.variables}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {action.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
        if body.get("errors"):
            return str(body["errors"][0].get("extensions", {}).get("code", "ERROR"))
        payload = next(iter(body["data"].values()))
        return payload["errors"][0]["code"] if payload["errors"] else "ok"


def paced(
    rate: float,
    seconds: float | None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[int]:
    """Yield action numbers at ``rate`` per second for ``seconds`` (forever when None)."""
    start = clock()
    n = 0
    while True:
        due = n / rate
        if seconds is not None and due >= seconds:
            return
        delay = start + due - clock()
        if delay > 0:
            sleep(delay)
        yield n
        n += 1
