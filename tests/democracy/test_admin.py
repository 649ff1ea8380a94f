"""The admin changes communities only through the services, as a staff user meets it."""

from __future__ import annotations

from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from calc.models import Calculation, CalculationStatus
from democracy import errors
from democracy.models import (
    Choice,
    Community,
    Decision,
    DecisionStatus,
    Following,
    Membership,
    Role,
    TieBreakPolicy,
)
from tests.conftest import admin_url
from tests.factories import (
    CommunityFactory,
    DecisionFactory,
    FollowingFactory,
    MembershipFactory,
)

pytestmark = pytest.mark.django_db


def html(response: Any) -> str:
    return unescape(response.content.decode())


# Memberships


def _membership_form(membership: Membership, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "role": membership.role,
        "is_manager": membership.is_manager,
        "is_approved": membership.is_approved,
        **changes,
    }
    return {key: "on" if value is True else value for key, value in data.items() if value}


def test_demoting_the_last_manager_is_refused_and_nothing_changes(admin_client, events, unchanged):
    manager = MembershipFactory(is_manager=True, user__username="mia")
    MembershipFactory(community=manager.community)
    with unchanged():
        response = admin_client.post(
            admin_url(Membership, "change", manager.pk),
            _membership_form(manager, is_manager=False),
        )
    assert response.status_code == 200
    assert errors.THEIR_LAST_MANAGER in html(response)
    assert not events.of("MEMBERSHIP_CHANGED")


def test_withdrawing_the_last_managers_approval_is_refused(admin_client, unchanged):
    manager = MembershipFactory(is_manager=True)
    with unchanged():
        response = admin_client.post(
            admin_url(Membership, "change", manager.pk),
            _membership_form(manager, is_approved=False),
        )
    assert errors.THEIR_LAST_MANAGER in html(response)


def test_a_change_is_logged_as_the_staff_users_and_asks_for_recalculation(admin_client, events):
    member = MembershipFactory(user__username="lou")
    decision = DecisionFactory(community=member.community, status=DecisionStatus.OPEN)
    response = admin_client.post(
        admin_url(Membership, "change", member.pk), _membership_form(member, role=Role.LOBBYIST)
    )
    assert response.status_code == 302, html(response)
    member.refresh_from_db()
    assert member.role == Role.LOBBYIST
    changed = events.one("MEMBERSHIP_CHANGED")
    assert changed.actor == "root"  # type: ignore[attr-defined]
    assert changed.getMessage() == (
        f"Membership of lou in '{member.community.name}' is now LOBBYIST"
    )
    assert Calculation.objects.filter(decision=decision, status=CalculationStatus.QUEUED).exists()


def test_an_anonymous_member_cannot_be_made_a_lobbyist(admin_client, unchanged):
    member = MembershipFactory(is_anonymous=True)
    with unchanged():
        response = admin_client.post(
            admin_url(Membership, "change", member.pk), _membership_form(member, role=Role.LOBBYIST)
        )
    assert response.status_code == 200
    assert errors.LOBBYIST_ANONYMOUS in html(response)


def test_anonymity_stays_the_members_own_choice(admin_client):
    member = MembershipFactory()
    page = html(admin_client.get(admin_url(Membership, "change", member.pk)))
    assert 'name="is_anonymous"' not in page
    assert 'name="role"' in page
    admin_client.post(
        admin_url(Membership, "change", member.pk),
        _membership_form(member, is_anonymous=True),
    )
    member.refresh_from_db()
    assert not member.is_anonymous


def test_approve_action_approves_through_the_service(admin_client, events):
    waiting = MembershipFactory(is_approved=False, user__username="wanda")
    approved = MembershipFactory(community=waiting.community)
    decision = DecisionFactory(community=waiting.community, status=DecisionStatus.OPEN)
    response = admin_client.post(
        admin_url(Membership, "changelist"),
        {"action": "approve", "_selected_action": [waiting.pk, approved.pk]},
        follow=True,
    )
    assert "Approved 1 membership(s)." in html(response)
    waiting.refresh_from_db()
    assert waiting.is_approved
    event = events.one("MEMBER_APPROVED")
    assert event.actor == "root"  # type: ignore[attr-defined]
    assert event.getMessage() == f"Approved wanda in '{waiting.community.name}'"
    queued = Calculation.objects.get(decision=decision, status=CalculationStatus.QUEUED)
    assert queued.trigger == "Membership changed"


def test_staff_changes_are_refused_to_a_deactivated_staff_user(events):
    """The services check the staff user too, not only the admin's login."""
    from core.errors import Forbidden
    from democracy.access import Staff
    from democracy.services.memberships import membership_update

    waiting = MembershipFactory(is_approved=False)
    former = User.objects.create_user("former", is_staff=True, is_active=False)
    with pytest.raises(Forbidden):
        membership_update(user=Staff(user=former), membership=waiting, is_approved=True)
    waiting.refresh_from_db()
    assert not waiting.is_approved


def test_being_staff_grants_nothing_outside_the_admin(unchanged):
    """Only the admin wraps the user in ``Staff``; passed as a user, staff is no manager."""
    from core.errors import Forbidden
    from democracy.services.communities import community_update

    community = MembershipFactory(is_manager=True).community
    staff = User.objects.create_user("staffer", is_staff=True)
    with unchanged(), pytest.raises(Forbidden):
        community_update(user=staff, community=community, name="Taken over")


def test_the_community_page_lists_members_read_only(admin_client):
    member = MembershipFactory(role=Role.LOBBYIST)
    page = html(admin_client.get(admin_url(Community, "change", member.community_id)))
    assert member.user.username in page
    assert 'name="memberships-0-role"' not in page


# Communities


def _community_form(community: Community | None = None, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": community.name if community else "",
        "description": community.description if community else "",
        "auto_approve_applications": community.auto_approve_applications if community else True,
        "tie_break_policy": community.tie_break_policy if community else TieBreakPolicy.LOT,
        "results_are_public": community.results_are_public if community else False,
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        **changes,
    }
    return {key: "on" if value is True else value for key, value in data.items() if value}


def test_creating_a_community_makes_the_staff_user_its_first_manager(admin_client, events):
    response = admin_client.post(admin_url(Community, "add"), _community_form(name=" Allotments "))
    assert response.status_code == 302, html(response)
    community = Community.objects.get()
    assert community.name == "Allotments"
    manager = Membership.objects.get(community=community)
    assert (manager.user.username, manager.is_manager) == ("root", True)
    assert events.one("COMMUNITY_CREATED").actor == "root"  # type: ignore[attr-defined]


def test_editing_a_community_goes_through_the_service(admin_client, events):
    community = CommunityFactory(name="Old name")
    MembershipFactory(community=community)
    response = admin_client.post(
        admin_url(Community, "change", community.pk),
        _community_form(community, name="New name", results_are_public=True),
    )
    assert response.status_code == 302, html(response)
    community.refresh_from_db()
    assert (community.name, community.results_are_public) == ("New name", True)
    updated = events.one("COMMUNITY_UPDATED")
    assert (updated.actor, updated.getMessage()) == ("root", "Community 'New name' updated")  # type: ignore[attr-defined]


def test_a_taken_community_name_is_refused_with_the_services_message(admin_client, unchanged):
    CommunityFactory(name="Garden")
    community = CommunityFactory(name="Orchard")
    with unchanged():
        response = admin_client.post(
            admin_url(Community, "change", community.pk), _community_form(community, name="GARDEN")
        )
    assert response.status_code == 200
    assert errors.NAME_TAKEN in html(response)


# Decisions


def _decision_form(community: Community, choices: list[str], **changes: object) -> dict[str, Any]:
    closes_at = timezone.localtime(timezone.now() + timedelta(days=3))
    data: dict[str, Any] = {
        "community": community.pk,
        "title": "Paint the fence",
        "description": "",
        "closes_at_0": closes_at.strftime("%Y-%m-%d"),
        "closes_at_1": closes_at.strftime("%H:%M:%S"),
        "choices-TOTAL_FORMS": str(len(choices)),
        "choices-INITIAL_FORMS": "0",
    }
    for index, title in enumerate(choices):
        data[f"choices-{index}-title"] = title
        data[f"choices-{index}-position"] = str(index)
    data.update(changes)
    return data


def test_creating_a_decision_goes_through_the_service(admin_client, events):
    community = CommunityFactory(name="Street")
    response = admin_client.post(
        admin_url(Decision, "add"), _decision_form(community, ["Green", "White"])
    )
    assert response.status_code == 302, html(response)
    decision = Decision.objects.get()
    assert decision.status == DecisionStatus.DRAFT
    assert list(decision.choices.values_list("title", flat=True)) == ["Green", "White"]
    created = events.one("DECISION_CREATED")
    assert created.actor == "root"  # type: ignore[attr-defined]
    assert created.getMessage() == ("Decision 'Paint the fence' created in 'Street' with 2 choices")


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        (["Green"], errors.TOO_FEW_CHOICES.format(minimum=2)),
        (["Green", "green"], errors.DUPLICATE_CHOICE.format(title="green")),
    ],
)
def test_a_decision_the_service_refuses_is_not_created(admin_client, events, choices, message):
    community = CommunityFactory()
    response = admin_client.post(admin_url(Decision, "add"), _decision_form(community, choices))
    assert response.status_code == 200
    assert message in html(response)
    assert not Decision.objects.exists()
    assert not Choice.objects.exists()
    assert not events.of("DECISION_CREATED")


def test_editing_a_draft_goes_through_the_service(admin_client, events, unchanged):
    draft = DecisionFactory(status=DecisionStatus.DRAFT, title="Old", choices=["A", "B"])
    form = _decision_form(draft.community, [], title="New")
    form.pop("community")
    choices = list(draft.choices.all())
    form.update({"choices-TOTAL_FORMS": "2", "choices-INITIAL_FORMS": "2"})
    for index, choice in enumerate(choices):
        form[f"choices-{index}-id"] = choice.pk
        form[f"choices-{index}-decision"] = draft.pk
        form[f"choices-{index}-title"] = choice.title
        form[f"choices-{index}-position"] = choice.position
    past = timezone.localtime(timezone.now() - timedelta(days=1))
    with unchanged():
        refused = admin_client.post(
            admin_url(Decision, "change", draft.pk),
            {**form, "closes_at_0": past.strftime("%Y-%m-%d")},
        )
    assert errors.CLOSES_IN_PAST in html(refused)
    response = admin_client.post(admin_url(Decision, "change", draft.pk), form)
    assert response.status_code == 302, html(response)
    draft.refresh_from_db()
    assert draft.title == "New"
    assert list(draft.choices.values_list("title", flat=True)) == ["A", "B"]
    assert events.one("DECISION_UPDATED").actor == "root"  # type: ignore[attr-defined]


def test_an_open_decision_is_read_only(admin_client):
    decision = DecisionFactory(status=DecisionStatus.OPEN)
    page = html(admin_client.get(admin_url(Decision, "change", decision.pk)))
    for field in ('name="choices-0-title"', 'name="title"', 'name="closes_at_0"'):
        assert field not in page
    draft = DecisionFactory(status=DecisionStatus.DRAFT)
    page = html(admin_client.get(admin_url(Decision, "change", draft.pk)))
    assert 'name="choices-0-title"' in page
    assert 'name="title"' in page


def test_decision_status_is_read_only(admin_client):
    decision = DecisionFactory(status=DecisionStatus.DRAFT)
    page = html(admin_client.get(admin_url(Decision, "change", decision.pk)))
    assert 'name="status"' not in page


# Followings: only the follower changes a delegation


def test_followings_are_read_only(admin_client, unchanged):
    following = FollowingFactory(tags=["parks"])
    assert admin_client.get(admin_url(Following, "add")).status_code == 403
    page = html(admin_client.get(admin_url(Following, "change", following.pk)))
    assert 'name="tags"' not in page
    with unchanged():
        admin_client.post(admin_url(Following, "change", following.pk), {"tags": "[]", "order": 2})
