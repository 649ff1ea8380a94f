"""Stable pseudonyms for anonymous members."""

from __future__ import annotations

import re

import pytest

from democracy.pseudonyms import display_name, pseudonym
from tests.factories import CommunityFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_pseudonym_is_stable_for_a_membership():
    membership = MembershipFactory(is_anonymous=True)
    assert pseudonym(membership.pk) == pseudonym(membership.pk)
    membership.refresh_from_db()
    assert display_name(membership) == pseudonym(membership.pk)


def test_a_pseudonym_reads_as_adjective_animal_and_hex():
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+ [0-9a-f]{4}", pseudonym(42))


def test_one_person_has_different_pseudonyms_in_different_communities():
    user = UserFactory()
    first = MembershipFactory(user=user, is_anonymous=True)
    second = MembershipFactory(user=user, is_anonymous=True)
    assert display_name(first) != display_name(second)


def test_pseudonyms_differ_across_memberships():
    community = CommunityFactory()
    members = MembershipFactory.create_batch(20, community=community, is_anonymous=True)
    assert len({display_name(member) for member in members}) == 20


def test_a_pseudonym_does_not_contain_the_username():
    members = [MembershipFactory(user__username=f"otter{i}", is_anonymous=True) for i in range(20)]
    for member in members:
        shown = display_name(member)
        assert member.user.username not in shown
        assert member.user.username.lower() not in shown.lower()


def test_a_pseudonym_depends_on_the_server_secret(settings):
    before = pseudonym(7)
    settings.SECRET_KEY = "another-secret-" + "x" * 40
    assert pseudonym(7) != before


def test_a_public_member_is_shown_by_username():
    member = MembershipFactory(user__username="publicpat")
    assert display_name(member) == "publicpat"
