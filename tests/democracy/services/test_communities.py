"""Creating and configuring communities."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from core.errors import DomainError, Forbidden, NotAuthenticated
from democracy.models import Community, Membership, Role, TieBreakPolicy
from democracy.pseudonyms import pseudonym
from democracy.services.communities import community_create, community_update
from tests.democracy.conftest import assert_error
from tests.factories import CommunityFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_create_makes_the_creator_a_manager_voter():
    user = UserFactory()
    community = community_create(user=user, name="  Park friends ", description=" Parks. ")
    assert (community.name, community.description) == ("Park friends", "Parks.")
    membership = Membership.objects.get(community=community)
    assert membership.user == user
    assert membership.role == Role.VOTER
    assert membership.is_manager
    assert membership.is_approved
    assert not membership.is_anonymous


def test_create_stores_the_settings_given():
    community = community_create(
        user=UserFactory(),
        name="Quiet",
        auto_approve_applications=False,
        tie_break_policy=TieBreakPolicy.UNRESOLVED,
        results_are_public=True,
    )
    community.refresh_from_db()
    assert community.auto_approve_applications is False
    assert community.tie_break_policy == TieBreakPolicy.UNRESOLVED
    assert community.results_are_public is True


@pytest.mark.parametrize(
    "name",
    [
        "park friends",
        " PARK FRIENDS ",
        "Park  Friends",
        "Park\u00a0Friends",  # a no-break space
        "\uff30ark Friends",  # a full-width P
        "Park\u2003Friends",  # an em space
    ],
)
def test_create_refuses_a_name_taken_in_any_case_spacing_or_width(unchanged, name):
    CommunityFactory(name="Park Friends")
    user = UserFactory()
    with unchanged(), pytest.raises(DomainError) as raised:
        community_create(user=user, name=name)
    assert_error(raised, "NAME_TAKEN", "name")


@pytest.mark.parametrize("name", ["", "   "])
def test_create_refuses_a_blank_name(unchanged, name):
    user = UserFactory()
    with unchanged(), pytest.raises(DomainError) as raised:
        community_create(user=user, name=name)
    assert_error(raised, "REQUIRED", "name")


@pytest.mark.parametrize(
    ("name", "description", "code", "field"),
    [
        # 100,000 characters once reached SQLite's LIKE as "pattern too complex".
        ("x" * 100_000, "", "TOO_LONG", "name"),
        ("x" * 121, "", "TOO_LONG", "name"),
        ("Park\x00Friends", "", "INVALID_CHARACTERS", "name"),
        ("Park\rFriends", "", "INVALID_CHARACTERS", "name"),
        ("Park Friends", "x" * 5001, "TOO_LONG", "description"),
        ("Park Friends", "bad\x00", "INVALID_CHARACTERS", "description"),
        ("Park Friends\u200b", "", "INVALID_CHARACTERS", "name"),  # zero-width space
        ("\u202eParK Friends", "", "INVALID_CHARACTERS", "name"),  # right-to-left override
        ("\u200b", "", "INVALID_CHARACTERS", "name"),
        ("Park\u2066Friends", "", "INVALID_CHARACTERS", "name"),  # a bidi isolate
    ],
)
def test_create_refuses_oversized_or_control_text(unchanged, name, description, code, field):
    user = UserFactory()
    with unchanged(), pytest.raises(DomainError) as raised:
        community_create(user=user, name=name, description=description)
    assert_error(raised, code, field)


def test_a_name_is_kept_in_its_plain_form_with_single_spaces():
    community = community_create(user=UserFactory(), name="\uff30ark\u00a0\u00a0Friends")
    assert community.name == "Park Friends"


def test_names_keep_the_joiners_scripts_and_emoji_need():
    name = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \U0001f469\u200d\U0001f33e"
    assert community_create(user=UserFactory(), name=name).name == name


def test_descriptions_keep_their_direction_marks():
    text = "Hebrew \u200f\u05e9\u05dc\u05d5\u05dd\u200e and back"
    community = community_create(user=UserFactory(), name="Garden", description=text)
    assert community.description == text


def test_names_may_use_any_script_and_the_longest_length():
    community = community_create(user=UserFactory(), name="Vecinos ٣ 町内会 " + "x" * 106)
    assert len(community.name) == 120


@pytest.mark.parametrize("user", [None, AnonymousUser()])
def test_create_requires_sign_in(unchanged, user):
    with unchanged(), pytest.raises(NotAuthenticated):
        community_create(user=user, name="Park friends")


def test_create_logs_the_event(events):
    community_create(user=UserFactory(username="carol"), name="Park friends")
    record = events.one("COMMUNITY_CREATED")
    assert record.actor == "carol"
    assert "Park friends" in record.getMessage()


def test_manager_updates_only_the_settings_given():
    manager = MembershipFactory(is_manager=True, community__description="Old")
    community = community_update(
        user=manager.user, community=manager.community, name=" New name ", results_are_public=True
    )
    community.refresh_from_db()
    assert community.name == "New name"
    assert community.results_are_public is True
    assert community.description == "Old"
    assert community.auto_approve_applications is True


def test_manager_may_change_the_case_of_the_community_name():
    manager = MembershipFactory(is_manager=True, community__name="Park friends")
    community_update(user=manager.user, community=manager.community, name="PARK FRIENDS")
    assert Community.objects.get().name == "PARK FRIENDS"


def test_update_refuses_a_name_taken_by_another_community(unchanged):
    CommunityFactory(name="Taken")
    manager = MembershipFactory(is_manager=True)
    with unchanged(), pytest.raises(DomainError) as raised:
        community_update(user=manager.user, community=manager.community, name="taken")
    assert_error(raised, "NAME_TAKEN", "name")


def test_update_refuses_a_blank_name(unchanged):
    manager = MembershipFactory(is_manager=True)
    with unchanged(), pytest.raises(DomainError) as raised:
        community_update(user=manager.user, community=manager.community, name=" ")
    assert_error(raised, "REQUIRED", "name")


def test_update_by_a_member_who_is_not_a_manager_is_forbidden(unchanged):
    member = MembershipFactory()
    with unchanged(), pytest.raises(Forbidden):
        community_update(user=member.user, community=member.community, name="Mine now")


def test_update_by_a_non_member_is_forbidden(unchanged):
    community = CommunityFactory()
    outsider = UserFactory()
    with unchanged(), pytest.raises(Forbidden):
        community_update(user=outsider, community=community, name="Mine now")


def test_update_by_an_unapproved_manager_is_forbidden(unchanged):
    manager = MembershipFactory(is_manager=True, is_approved=False)
    with unchanged(), pytest.raises(Forbidden):
        community_update(user=manager.user, community=manager.community, name="Mine now")


def test_update_requires_sign_in(unchanged):
    community = CommunityFactory()
    with unchanged(), pytest.raises(NotAuthenticated):
        community_update(user=AnonymousUser(), community=community, name="Mine now")


def test_update_logs_an_anonymous_manager_by_pseudonym(events):
    manager = MembershipFactory(is_manager=True, is_anonymous=True, user__username="secretsam")
    community_update(user=manager.user, community=manager.community, description="New")
    record = events.one("COMMUNITY_UPDATED")
    assert record.actor == pseudonym(manager.pk)
    assert "secretsam" not in " ".join(events.lines())
