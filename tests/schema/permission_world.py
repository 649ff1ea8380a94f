"""The fixed world of the permission matrix: two communities, seven callers.

The private community ``Garden`` and the public one ``Square`` (``resultsArePublic``) are
built alike: a manager, a member (voter), a lobbyist, an anonymous member, a pending
applicant; an open decision with ballots and a result, a draft, and a closed decision with
its final result; the manager follows the member (so the manager's ballot is delegated), the
member follows the anonymous member, who follows the lobbyist. The callers (``ROLES``) hold the same role in both
communities; the stranger and the staff user belong to neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone
from strawberry.relay import to_base64

from accounts.models import User
from accounts.services.tokens import token_issue
from calc.services import decision_calculate
from democracy.models import Community, Decision, Membership, Role
from democracy.services.decisions import decision_close
from tests.factories import (
    BallotFactory,
    CommunityFactory,
    DecisionFactory,
    FollowingFactory,
    MagicLinkFactory,
    MembershipFactory,
    UserFactory,
)
from tests.schema.conftest import gid

# The columns of every table, in this order.
ROLES = ("nobody", "stranger", "pending", "member", "lobbyist", "manager", "staff")
MAGIC_LINK = "cvl_permission-matrix-link"


@dataclass
class Place:
    """One community and the IDs of what is in it."""

    community: Community
    memberships: dict[str, Membership]
    decisions: dict[str, Decision]
    ids: dict[str, str] = field(default_factory=dict)


def _place(name: str, users: dict[str, User], *, public: bool) -> Place:
    community = CommunityFactory(
        name=name, results_are_public=public, auto_approve_applications=False
    )
    memberships = {
        "manager": MembershipFactory(community=community, user=users["manager"], is_manager=True),
        "member": MembershipFactory(community=community, user=users["member"]),
        "lobbyist": MembershipFactory(
            community=community, user=users["lobbyist"], role=Role.LOBBYIST
        ),
        "anon": MembershipFactory(community=community, user=users["anon"], is_anonymous=True),
        "pending": MembershipFactory(community=community, user=users["pending"], is_approved=False),
    }
    follows = [("manager", "member"), ("member", "anon"), ("anon", "lobbyist")]
    following, *_ = [
        FollowingFactory(
            community=community,
            follower=memberships[follower],
            followee=memberships[followee],
            tags=["budget"],
        )
        for follower, followee in follows
    ]
    open_ = DecisionFactory(community=community, title=f"{name} open", choices=["Park", "Road"])
    draft = DecisionFactory(
        community=community, title=f"{name} draft", status="DRAFT", choices=["A", "B"]
    )
    closed = DecisionFactory(
        community=community,
        title=f"{name} closed",
        choices=["Yes", "No"],
        closes_at=timezone.now() + timedelta(days=1),
    )
    for decision, first, second in ((open_, "Park", "Road"), (closed, "Yes", "No")):
        BallotFactory(
            decision=decision,
            membership=memberships["member"],
            stars={first: 5, second: 1},
            comment="my reasons",
            tags=["budget"],
        )
        BallotFactory(
            decision=decision, membership=memberships["anon"], stars={second: 3}, tags=["budget"]
        )
        decision_calculate(decision.pk)
    decision_close(user=users["manager"], decision=closed)
    decision_calculate(closed.pk)
    place = Place(
        community=community,
        memberships=memberships,
        decisions={"open": open_, "draft": draft, "closed": closed},
    )
    place.ids = {
        "community": gid(community),
        **{f"{key}Membership": gid(m) for key, m in memberships.items()},
        **{key: gid(d) for key, d in place.decisions.items()},
        "openChoice": gid(open_.choices.get(title="Park")),
        "openChoice2": gid(open_.choices.get(title="Road")),
        "draftChoice": gid(draft.choices.get(title="A")),
        "draftChoice2": gid(draft.choices.get(title="B")),
        "following": _node_id("Following", following.pk),
        "calculation": _node_id("Calculation", open_.calculations.latest("pk").pk),
        "results": _node_id("DecisionResults", open_.calculations.latest("pk").pk),
    }
    return place


def _node_id(type_name: str, pk: int) -> str:
    return to_base64(type_name, pk)


class World:
    """Build the two communities and sign every caller in with a bearer token."""

    def __init__(self) -> None:
        names = ["stranger", "pending", "member", "lobbyist", "manager", "anon"]
        users = {name: UserFactory(username=f"mx-{name}") for name in names}
        users["staff"] = UserFactory(username="mx-staff", is_staff=True, is_superuser=True)
        self.users: dict[str, User | None] = {"nobody": None, **users}
        self.private = _place("Garden", users, public=False)
        self.public = _place("Square", users, public=True)
        MagicLinkFactory(email="newcomer@example.org", token=MAGIC_LINK)
        self.tokens = {
            role: token_issue(user=user, name="matrix")[1]
            for role, user in self.users.items()
            if user is not None
        }
        self.users_ids = {role: _node_id("User", u.pk) for role, u in users.items()}

    def place(self, public: bool) -> Place:
        return self.public if public else self.private
