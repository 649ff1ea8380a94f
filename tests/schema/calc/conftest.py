"""A decision with one ballot, and its voter's token: what most subscription tests follow."""

from __future__ import annotations

import pytest

from accounts.services.tokens import token_issue
from democracy.models import Decision, Membership
from tests.factories import BallotFactory, DecisionFactory, MembershipFactory


@pytest.fixture
def voting() -> tuple[Membership, Decision, str]:
    """Return a member, an open decision on park and road with their ballot, and their token."""
    member = MembershipFactory()
    decision = DecisionFactory(community=member.community, choices=["park", "road"])
    BallotFactory(decision=decision, membership=member, stars={"park": 4})
    return member, decision, token_issue(user=member.user)[1]
