"""A small believable demo: two communities, delegation on tags, open and closed decisions.

Everything goes through the real services, so the demo obeys every rule the API does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from democracy.models import Community, Decision, Membership, Role
from democracy.services import ballots, communities, decisions, followings, memberships
from democracy.services.ballots import StarsSpec
from democracy.services.decisions import ChoiceSpec

RIVERSIDE_PEOPLE = {
    "alice": Role.VOTER,
    "bob": Role.VOTER,
    "carol": Role.VOTER,
    "dave": Role.VOTER,
    "erin": Role.VOTER,
    "frank": Role.VOTER,
    "grace": Role.VOTER,
    "parks_trust": Role.LOBBYIST,
}
GUILD_PEOPLE = {
    "heidi": Role.VOTER,
    "ivan": Role.VOTER,
    "judy": Role.VOTER,
    "mallory": Role.VOTER,
    "niaj": Role.VOTER,
    "cycling_club": Role.LOBBYIST,
}


@dataclass(frozen=True, slots=True)
class Demo:
    communities: tuple[Community, ...]
    open_decisions: tuple[Decision, ...]


def _users(names: dict[str, Role]) -> dict[str, User]:
    return {
        name: User.objects.get_or_create(username=name, defaults={"email": f"{name}@example.org"})[
            0
        ]
        for name in names
    }


def _member(user: User, community: Community) -> Membership:
    return Membership.objects.get(user=user, community=community)


def _stars(decision: Decision, ratings: dict[str, int]) -> list[StarsSpec]:
    ids = {choice.title: choice.pk for choice in decision.choices.all()}
    return [StarsSpec(choice_id=ids[title], stars=value) for title, value in ratings.items()]


def _join_all(owner: User, community: Community, people: dict[str, Role]) -> dict[str, User]:
    users = _users(people)
    for name, role in people.items():
        if users[name] != owner:
            memberships.membership_join(user=users[name], community=community, role=role)
    return users


@transaction.atomic
def demo_create() -> Demo:
    """Create the demo communities; call it on an empty database."""
    now = timezone.now()
    riverside_users = _users(RIVERSIDE_PEOPLE)
    riverside = communities.community_create(
        user=riverside_users["alice"],
        name="Riverside Commons",
        description="Neighbours deciding together how to care for the riverside park.",
        results_are_public=True,
    )
    u = _join_all(riverside_users["alice"], riverside, RIVERSIDE_PEOPLE)
    memberships.membership_update(
        user=u["erin"], membership=_member(u["erin"], riverside), is_anonymous=True
    )
    follow = [
        ("bob", "alice", ["budget"]),
        ("bob", "parks_trust", []),
        ("carol", "bob", ["budget"]),
        ("dave", "bob", ["schools"]),
        ("frank", "carol", []),
        ("grace", "erin", ["parks"]),
        ("grace", "alice", ["parks", "budget"]),
    ]
    for follower, followee, tags in follow:
        followings.following_upsert(
            user=u[follower],
            community=riverside,
            followee=_member(u[followee], riverside),
            tags=tags,
        )
    budget = decisions.decision_create(
        user=u["alice"],
        community=riverside,
        title="Spend the 2027 park budget",
        description="Where should this year's 40,000 go?",
        closes_at=now + timedelta(days=14),
        choices=[
            ChoiceSpec("New playground"),
            ChoiceSpec("Riverbank path"),
            ChoiceSpec("Community garden"),
            ChoiceSpec("Keep it in reserve"),
        ],
    )
    decisions.decision_publish(user=u["alice"], decision=budget)
    votes = {
        "alice": ({"New playground": 2, "Riverbank path": 5, "Community garden": 4}, ["budget"]),
        "parks_trust": (
            {"New playground": 4, "Riverbank path": 3, "Community garden": 5},
            ["budget", "parks"],
        ),
        "erin": ({"New playground": 1, "Riverbank path": 4, "Community garden": 5}, ["parks"]),
    }
    for name, (ratings, tags) in votes.items():
        ballots.ballot_cast(user=u[name], decision=budget, stars=_stars(budget, ratings), tags=tags)

    lights = decisions.decision_create(
        user=u["alice"],
        community=riverside,
        title="Turn the path lights off at midnight",
        closes_at=now + timedelta(days=1),
        choices=[ChoiceSpec("Yes"), ChoiceSpec("No")],
    )
    decisions.decision_publish(user=u["alice"], decision=lights)
    for name, yes in (("alice", 4), ("bob", 1), ("carol", 5), ("dave", 2)):
        ballots.ballot_cast(
            user=u[name], decision=lights, stars=_stars(lights, {"Yes": yes, "No": 5 - yes})
        )
    decisions.decision_close(user=u["alice"], decision=lights)

    guild_users = _users(GUILD_PEOPLE)
    guild = communities.community_create(
        user=guild_users["heidi"],
        name="Harbour Cycling Guild",
        description="Cyclists of the harbour district choosing routes, rides and rules.",
        auto_approve_applications=False,
    )
    g = _join_all(guild_users["heidi"], guild, GUILD_PEOPLE)
    for name in GUILD_PEOPLE:
        member = _member(g[name], guild)
        if not member.is_approved:
            memberships.membership_update(user=g["heidi"], membership=member, is_approved=True)
    for follower, followee, tags in (
        ("ivan", "heidi", ["routes"]),
        ("judy", "ivan", []),
        ("mallory", "cycling_club", ["safety"]),
        ("niaj", "judy", ["routes", "safety"]),
    ):
        followings.following_upsert(
            user=g[follower], community=guild, followee=_member(g[followee], guild), tags=tags
        )
    route = decisions.decision_create(
        user=g["heidi"],
        community=guild,
        title="Route for the spring ride",
        closes_at=now + timedelta(days=10),
        choices=[
            ChoiceSpec("Coastal loop"),
            ChoiceSpec("Old town hills"),
            ChoiceSpec("Canal and back"),
        ],
    )
    decisions.decision_publish(user=g["heidi"], decision=route)
    for name, ratings in (
        ("heidi", {"Coastal loop": 5, "Old town hills": 2, "Canal and back": 3}),
        ("cycling_club", {"Coastal loop": 3, "Canal and back": 5}),
    ):
        ballots.ballot_cast(
            user=g[name], decision=route, stars=_stars(route, ratings), tags=["routes", "safety"]
        )
    return Demo(communities=(riverside, guild), open_decisions=(budget, route))
