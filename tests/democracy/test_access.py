"""Who may act where: sign-in, membership, approval and manager checks."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from core.errors import Forbidden, NotAuthenticated
from democracy import errors
from democracy.access import manager_require, member_require, membership_of, user_require
from tests.factories import CommunityFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("user", [None, AnonymousUser()])
def test_nobody_signed_in_is_refused_everywhere(user):
    community = CommunityFactory()
    with pytest.raises(NotAuthenticated):
        user_require(user)
    with pytest.raises(NotAuthenticated):
        member_require(user, community)
    with pytest.raises(NotAuthenticated):
        manager_require(user, community)
    assert membership_of(user, community) is None


def test_a_signed_in_user_is_returned():
    user = UserFactory()
    assert user_require(user) == user


def test_membership_of_finds_an_applicant_too():
    applicant = MembershipFactory(is_approved=False)
    assert membership_of(applicant.user, applicant.community) == applicant
    assert membership_of(applicant.user, CommunityFactory()) is None


def test_a_non_member_is_forbidden():
    with pytest.raises(Forbidden, match=errors.NOT_A_MEMBER):
        member_require(UserFactory(), CommunityFactory())


def test_an_applicant_is_forbidden_until_approved():
    applicant = MembershipFactory(is_approved=False)
    with pytest.raises(Forbidden, match=errors.NOT_APPROVED):
        member_require(applicant.user, applicant.community)


def test_an_approved_member_passes_but_is_not_a_manager():
    member = MembershipFactory()
    assert member_require(member.user, member.community) == member
    with pytest.raises(Forbidden, match=errors.NOT_A_MANAGER):
        manager_require(member.user, member.community)


def test_a_manager_passes():
    manager = MembershipFactory(is_manager=True)
    assert manager_require(manager.user, manager.community) == manager


def test_a_manager_elsewhere_is_forbidden():
    manager = MembershipFactory(is_manager=True)
    with pytest.raises(Forbidden):
        manager_require(manager.user, CommunityFactory())
