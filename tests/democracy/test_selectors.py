"""Read-only queries and who may see inside a community."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from democracy.models import DecisionStatus, Membership
from democracy.selectors import (
    ballot_for,
    can_see_community_inside,
    community_list,
    decision_list_visible,
    membership_visible_to,
)
from tests.factories import BallotFactory, CommunityFactory, DecisionFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def test_every_community_is_listed():
    private = CommunityFactory(results_are_public=False)
    public = CommunityFactory(results_are_public=True)
    assert list(community_list()) == [private, public]


@pytest.fixture
def world():
    """Return a private and a public community, each with one decision, and their members."""
    private = DecisionFactory(community__results_are_public=False)
    public = DecisionFactory(community__results_are_public=True)
    member = MembershipFactory(community=private.community)
    applicant = MembershipFactory(community=private.community, is_approved=False)
    outsider = MembershipFactory(community=public.community)
    return private, public, member, applicant, outsider


def test_an_approved_member_sees_their_communitys_decisions(world):
    private, public, member, _, _ = world
    assert set(decision_list_visible(member.user)) == {private, public}
    assert can_see_community_inside(member.user, private.community)


def test_an_applicant_sees_only_public_decisions(world):
    private, public, _, applicant, _ = world
    assert list(decision_list_visible(applicant.user)) == [public]
    assert not can_see_community_inside(applicant.user, private.community)


def test_a_member_elsewhere_sees_only_public_decisions(world):
    private, public, _, _, outsider = world
    assert list(decision_list_visible(outsider.user)) == [public]
    assert not can_see_community_inside(outsider.user, private.community)
    assert can_see_community_inside(outsider.user, public.community)


@pytest.mark.parametrize("user", [None, AnonymousUser()])
def test_nobody_signed_in_sees_only_public_decisions(world, user):
    private, public, _, _, _ = world
    assert list(decision_list_visible(user)) == [public]
    assert can_see_community_inside(user, public.community)
    assert not can_see_community_inside(user, private.community)


def test_ballot_for_returns_the_users_own_ballot_on_that_decision():
    ballot = BallotFactory(stars={"Yes": 5})
    other_decision = DecisionFactory(community=ballot.decision.community)
    BallotFactory(decision=other_decision, membership=ballot.membership)
    BallotFactory(decision=ballot.decision, stars={"No": 2})
    assert ballot_for(ballot.membership.user, ballot.decision) == ballot


def test_ballot_for_is_none_without_a_ballot_or_a_user():
    ballot = BallotFactory()
    member = MembershipFactory(community=ballot.decision.community)
    assert ballot_for(member.user, ballot.decision) is None
    assert ballot_for(AnonymousUser(), ballot.decision) is None
    assert ballot_for(None, ballot.decision) is None


def test_drafts_are_visible_to_approved_managers_only():
    community = CommunityFactory(results_are_public=True)
    draft = DecisionFactory(community=community, status=DecisionStatus.DRAFT)
    manager = MembershipFactory(community=community, is_manager=True)
    unapproved_manager = MembershipFactory(community=community, is_manager=True, is_approved=False)
    member = MembershipFactory(community=community)
    assert list(decision_list_visible(manager.user)) == [draft]
    for user in (unapproved_manager.user, member.user, AnonymousUser(), None):
        assert list(decision_list_visible(user)) == []


def test_a_pending_membership_is_visible_to_itself_and_managers_only(world):
    private, _, member, applicant, outsider = world
    manager = MembershipFactory(community=private.community, is_manager=True)
    pending = Membership.objects.filter(pk=applicant.pk)
    assert pending.filter(membership_visible_to(applicant.user)).exists()
    assert pending.filter(membership_visible_to(manager.user)).exists()
    for user in (member.user, outsider.user, AnonymousUser()):
        assert not pending.filter(membership_visible_to(user)).exists()
    assert Membership.objects.filter(pk=member.pk).filter(membership_visible_to(member.user))
