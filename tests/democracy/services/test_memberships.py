"""Joining, leaving, approving, and changing roles, manager flags and anonymity."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from core.errors import DomainError, Forbidden, NotAuthenticated
from democracy.models import Ballot, Following, Membership, Role
from democracy.pseudonyms import pseudonym
from democracy.services.ballots import StarsSpec, ballot_cast
from democracy.services.followings import following_upsert
from democracy.services.memberships import membership_join, membership_leave, membership_update
from tests.democracy.conftest import assert_error
from tests.factories import (
    BallotFactory,
    CommunityFactory,
    DecisionFactory,
    FollowingFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


# Joining


def test_join_with_auto_approval_makes_an_approved_voter(events):
    community = CommunityFactory(auto_approve_applications=True)
    user = UserFactory()
    membership = membership_join(user=user, community=community)
    membership.refresh_from_db()
    assert (membership.user, membership.community) == (user, community)
    assert membership.role == Role.VOTER
    assert membership.is_approved
    assert not membership.is_manager
    assert not membership.is_anonymous
    assert events.one("MEMBER_JOINED").actor == user.username


def test_join_without_auto_approval_waits_for_a_manager(events):
    community = CommunityFactory(auto_approve_applications=False)
    membership = membership_join(user=UserFactory(), community=community)
    membership.refresh_from_db()
    assert not membership.is_approved
    assert events.one("MEMBER_APPLIED")
    assert not events.of("MEMBER_JOINED")


def test_join_as_a_lobbyist():
    community = CommunityFactory()
    membership = membership_join(user=UserFactory(), community=community, role=Role.LOBBYIST)
    membership.refresh_from_db()
    assert membership.role == Role.LOBBYIST


@pytest.mark.parametrize("approved", [True, False])
def test_joining_twice_is_refused(unchanged, approved):
    membership = MembershipFactory(is_approved=approved)
    with unchanged(), pytest.raises(DomainError) as raised:
        membership_join(user=membership.user, community=membership.community)
    assert_error(raised, "ALREADY_MEMBER", "communityId")


@pytest.mark.parametrize("user", [None, AnonymousUser()])
def test_join_requires_sign_in(unchanged, user):
    community = CommunityFactory()
    with unchanged(), pytest.raises(NotAuthenticated):
        membership_join(user=user, community=community)


def test_an_unapproved_member_cannot_act(unchanged):
    applicant = MembershipFactory(is_approved=False)
    other = MembershipFactory(community=applicant.community)
    decision = DecisionFactory(community=applicant.community)
    yes = decision.choices.get(title="Yes")
    with unchanged():
        with pytest.raises(Forbidden):
            following_upsert(user=applicant.user, community=applicant.community, followee=other)
        with pytest.raises(Forbidden):
            ballot_cast(
                user=applicant.user, decision=decision, stars=[StarsSpec(choice_id=yes.pk, stars=5)]
            )


# Leaving


def test_leave_removes_the_membership_its_followings_and_its_ballots(events):
    leaver = MembershipFactory()
    community = leaver.community
    FollowingFactory(follower=leaver)
    FollowingFactory(followee=leaver)
    kept_following = FollowingFactory(follower__community=community)
    BallotFactory(membership=leaver, decision__community=community, stars={"Yes": 5})
    kept_ballot = BallotFactory(decision__community=community, stars={"No": 3})

    membership_leave(user=leaver.user, community=community)

    assert not Membership.objects.filter(pk=leaver.pk).exists()
    assert list(Following.objects.all()) == [kept_following]
    assert list(Ballot.objects.all()) == [kept_ballot]
    assert events.one("MEMBER_LEFT").actor == leaver.user.username


def test_the_last_manager_cannot_leave_while_others_remain(unchanged):
    manager = MembershipFactory(is_manager=True)
    MembershipFactory(community=manager.community)
    with unchanged(), pytest.raises(DomainError) as raised:
        membership_leave(user=manager.user, community=manager.community)
    assert_error(raised, "LAST_MANAGER", "communityId")


def test_the_last_manager_cannot_leave_while_an_applicant_waits(unchanged):
    manager = MembershipFactory(is_manager=True)
    MembershipFactory(community=manager.community, is_approved=False)
    with unchanged(), pytest.raises(DomainError) as raised:
        membership_leave(user=manager.user, community=manager.community)
    assert_error(raised, "LAST_MANAGER", "communityId")


def test_the_sole_member_may_leave():
    manager = MembershipFactory(is_manager=True)
    membership_leave(user=manager.user, community=manager.community)
    assert not Membership.objects.exists()


def test_a_manager_may_leave_when_another_manager_remains():
    manager = MembershipFactory(is_manager=True)
    MembershipFactory(community=manager.community, is_manager=True)
    MembershipFactory(community=manager.community)
    membership_leave(user=manager.user, community=manager.community)
    assert not Membership.objects.filter(pk=manager.pk).exists()


def test_an_applicant_may_withdraw_by_leaving():
    applicant = MembershipFactory(is_approved=False)
    MembershipFactory(community=applicant.community, is_manager=True)
    membership_leave(user=applicant.user, community=applicant.community)
    assert not Membership.objects.filter(pk=applicant.pk).exists()


def test_leaving_a_community_one_is_not_in_is_forbidden(unchanged):
    community = CommunityFactory()
    MembershipFactory(community=community)
    outsider = UserFactory()
    with unchanged(), pytest.raises(Forbidden):
        membership_leave(user=outsider, community=community)


def test_leave_requires_sign_in(unchanged):
    community = CommunityFactory()
    with unchanged(), pytest.raises(NotAuthenticated):
        membership_leave(user=AnonymousUser(), community=community)


def test_acting_in_a_community_one_left_is_forbidden(unchanged):
    leaver = MembershipFactory()
    other = MembershipFactory(community=leaver.community)
    decision = DecisionFactory(community=leaver.community)
    yes = decision.choices.get(title="Yes")
    membership_leave(user=leaver.user, community=leaver.community)
    with unchanged():
        with pytest.raises(Forbidden):
            following_upsert(user=leaver.user, community=leaver.community, followee=other)
        with pytest.raises(Forbidden):
            ballot_cast(
                user=leaver.user, decision=decision, stars=[StarsSpec(choice_id=yes.pk, stars=5)]
            )


def test_leave_logs_an_anonymous_member_by_pseudonym(events):
    leaver = MembershipFactory(is_anonymous=True, user__username="secretsam")
    pseudonymous = pseudonym(leaver.pk)
    membership_leave(user=leaver.user, community=leaver.community)
    assert events.one("MEMBER_LEFT").actor == pseudonymous
    assert "secretsam" not in " ".join(events.lines())


# Changing a membership: what members may do to themselves


def test_a_member_changes_their_own_role(events):
    member = MembershipFactory()
    membership_update(user=member.user, membership=member, role=Role.LOBBYIST)
    member.refresh_from_db()
    assert member.role == Role.LOBBYIST
    assert events.one("MEMBERSHIP_CHANGED")


@pytest.mark.parametrize("anonymous", [True, False])
def test_a_member_chooses_their_own_anonymity(anonymous):
    member = MembershipFactory(is_anonymous=not anonymous)
    membership_update(user=member.user, membership=member, is_anonymous=anonymous)
    member.refresh_from_db()
    assert member.is_anonymous is anonymous


def test_turning_anonymous_logs_only_the_pseudonym(events):
    member = MembershipFactory(user__username="secretsam")
    membership_update(user=member.user, membership=member, is_anonymous=True)
    record = events.one("MEMBERSHIP_CHANGED")
    assert record.actor == pseudonym(member.pk)
    assert "secretsam" not in " ".join(events.lines())


def test_an_unchanged_membership_logs_nothing(events):
    member = MembershipFactory()
    membership_update(user=member.user, membership=member, role=Role.VOTER)
    assert events.records == []


# What managers may do to others, and what nobody may do


@pytest.mark.parametrize("actor_is_manager", [True, False])
@pytest.mark.parametrize("anonymous", [True, False])
def test_nobody_changes_anyone_elses_anonymity(unchanged, actor_is_manager, anonymous):
    actor = MembershipFactory(is_manager=actor_is_manager)
    other = MembershipFactory(community=actor.community, is_anonymous=not anonymous)
    with unchanged(), pytest.raises(Forbidden):
        membership_update(user=actor.user, membership=other, is_anonymous=anonymous)


def test_a_manager_approves_an_applicant(events):
    manager = MembershipFactory(is_manager=True)
    applicant = MembershipFactory(community=manager.community, is_approved=False)
    membership_update(user=manager.user, membership=applicant, is_approved=True)
    applicant.refresh_from_db()
    assert applicant.is_approved
    record = events.one("MEMBER_APPROVED")
    assert record.actor == manager.user.username
    assert applicant.user.username in record.getMessage()


def test_a_manager_promotes_a_member_to_manager():
    manager = MembershipFactory(is_manager=True)
    member = MembershipFactory(community=manager.community)
    membership_update(user=manager.user, membership=member, is_manager=True)
    member.refresh_from_db()
    assert member.is_manager


def test_a_manager_changes_another_members_role():
    manager = MembershipFactory(is_manager=True)
    member = MembershipFactory(community=manager.community)
    membership_update(user=manager.user, membership=member, role=Role.LOBBYIST)
    member.refresh_from_db()
    assert member.role == Role.LOBBYIST


def test_a_manager_steps_down_when_another_manager_remains():
    manager = MembershipFactory(is_manager=True)
    MembershipFactory(community=manager.community, is_manager=True)
    membership_update(user=manager.user, membership=manager, is_manager=False)
    manager.refresh_from_db()
    assert not manager.is_manager


@pytest.mark.parametrize(
    "change",
    [
        {"is_manager": True},
        {"is_approved": True},
        {"role": Role.LOBBYIST},
        {"role": Role.VOTER},
    ],
    ids=["promote", "approve", "role-lobbyist", "role-voter"],
)
def test_a_member_who_is_not_a_manager_cannot_change_others(unchanged, change):
    member = MembershipFactory()
    other = MembershipFactory(community=member.community, is_approved=False)
    with unchanged(), pytest.raises(Forbidden):
        membership_update(user=member.user, membership=other, **change)


@pytest.mark.parametrize("change", [{"is_manager": True}, {"is_approved": True}])
def test_a_member_who_is_not_a_manager_cannot_promote_or_approve_themself(unchanged, change):
    member = MembershipFactory()
    with unchanged(), pytest.raises(Forbidden):
        membership_update(user=member.user, membership=member, **change)


def test_an_applicant_cannot_approve_themself(unchanged):
    applicant = MembershipFactory(is_approved=False)
    with unchanged(), pytest.raises(Forbidden):
        membership_update(user=applicant.user, membership=applicant, is_approved=True)


def test_a_manager_of_another_community_cannot_change_a_member(unchanged):
    manager = MembershipFactory(is_manager=True)
    member = MembershipFactory()
    with unchanged(), pytest.raises(Forbidden):
        membership_update(user=manager.user, membership=member, role=Role.LOBBYIST)


def test_update_requires_sign_in(unchanged):
    member = MembershipFactory()
    with unchanged(), pytest.raises(NotAuthenticated):
        membership_update(user=AnonymousUser(), membership=member, role=Role.LOBBYIST)


def test_demoting_the_last_manager_is_refused(unchanged):
    manager = MembershipFactory(is_manager=True)
    MembershipFactory(community=manager.community)
    with unchanged(), pytest.raises(DomainError) as raised:
        membership_update(user=manager.user, membership=manager, is_manager=False)
    assert_error(raised, "LAST_MANAGER", "isManager")


def test_withdrawing_approval_from_the_last_manager_is_refused(unchanged):
    manager = MembershipFactory(is_manager=True)
    MembershipFactory(community=manager.community)
    with unchanged(), pytest.raises(DomainError) as raised:
        membership_update(user=manager.user, membership=manager, is_approved=False)
    assert_error(raised, "LAST_MANAGER", "isApproved")


def test_an_applicant_made_manager_does_not_count_as_another_manager(unchanged):
    manager = MembershipFactory(is_manager=True)
    MembershipFactory(community=manager.community, is_manager=True, is_approved=False)
    with unchanged(), pytest.raises(DomainError) as raised:
        membership_update(user=manager.user, membership=manager, is_manager=False)
    assert_error(raised, "LAST_MANAGER", "isManager")


# Lobbyists act in public


def test_a_lobbyist_cannot_become_anonymous(unchanged):
    lobbyist = MembershipFactory(role=Role.LOBBYIST)
    with unchanged(), pytest.raises(DomainError) as raised:
        membership_update(user=lobbyist.user, membership=lobbyist, is_anonymous=True)
    assert_error(raised, "LOBBYIST_CANNOT_BE_ANONYMOUS", "isAnonymous")


def test_an_anonymous_member_cannot_become_a_lobbyist(unchanged):
    member = MembershipFactory(is_anonymous=True)
    with unchanged(), pytest.raises(DomainError) as raised:
        membership_update(user=member.user, membership=member, role=Role.LOBBYIST)
    assert_error(raised, "LOBBYIST_CANNOT_BE_ANONYMOUS", "role")


def test_a_manager_cannot_make_an_anonymous_member_a_lobbyist(unchanged):
    manager = MembershipFactory(is_manager=True)
    member = MembershipFactory(community=manager.community, is_anonymous=True)
    with unchanged(), pytest.raises(DomainError) as raised:
        membership_update(user=manager.user, membership=member, role=Role.LOBBYIST)
    assert_error(raised, "LOBBYIST_CANNOT_BE_ANONYMOUS", "role")


def test_an_anonymous_member_becomes_a_public_lobbyist_in_one_change():
    member = MembershipFactory(is_anonymous=True)
    membership_update(user=member.user, membership=member, role=Role.LOBBYIST, is_anonymous=False)
    member.refresh_from_db()
    assert (member.role, member.is_anonymous) == (Role.LOBBYIST, False)


def test_join_follows_the_current_approval_setting_not_a_stale_copy():
    community = CommunityFactory(auto_approve_applications=True)
    stale = type(community).objects.get(pk=community.pk)
    type(community).objects.filter(pk=community.pk).update(auto_approve_applications=False)
    membership = membership_join(user=UserFactory(), community=stale)
    membership.refresh_from_db()
    assert not membership.is_approved
