"""The admin site, as a manager who is not a developer uses it."""

from __future__ import annotations

import pytest
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken, MagicLink, User
from accounts.services.tokens import token_authenticate
from democracy.models import (
    Ballot,
    Community,
    Decision,
    DecisionStatus,
    Following,
    Membership,
    Role,
)
from tests.factories import (
    ApiTokenFactory,
    BallotFactory,
    DecisionFactory,
    FollowingFactory,
    MagicLinkFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MODELS = (User, ApiToken, MagicLink, Community, Membership, Following, Decision, Ballot)
ADDABLE = (User, Community, Membership, Following, Decision)


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.org", "pw"))
    return client


@pytest.fixture
def one_of_each() -> dict[type[Model], Model]:
    ballot = BallotFactory(stars={"Yes": 5, "No": 1})
    following = FollowingFactory(
        follower__community=ballot.decision.community, tags=["budget", "parks"]
    )
    return {
        User: ballot.membership.user,
        ApiToken: ApiTokenFactory(),
        MagicLink: MagicLinkFactory(),
        Community: ballot.decision.community,
        Membership: ballot.membership,
        Following: following,
        Decision: ballot.decision,
        Ballot: ballot,
    }


def admin_url(model: type[Model], view: str, *args: object) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_and_change_form_load(admin_client, one_of_each, model):
    assert admin_client.get(admin_url(model, "changelist")).status_code == 200
    assert admin_client.get(admin_url(model, "changelist"), {"q": "a"}).status_code == 200
    change = admin_client.get(admin_url(model, "change", one_of_each[model].pk))
    assert change.status_code == 200


@pytest.mark.parametrize("model", ADDABLE, ids=lambda m: m.__name__)
def test_add_form_loads(admin_client, model):
    assert admin_client.get(admin_url(model, "add")).status_code == 200


@pytest.mark.parametrize("model", [ApiToken, MagicLink, Ballot], ids=lambda m: m.__name__)
def test_records_of_secrets_and_votes_cannot_be_added(admin_client, model):
    assert admin_client.get(admin_url(model, "add")).status_code == 403


def test_secret_hashes_are_shown_only_as_a_short_prefix(admin_client):
    token = ApiTokenFactory()
    link = MagicLinkFactory()
    for model, obj in ((ApiToken, token), (MagicLink, link)):
        pages = [
            admin_client.get(admin_url(model, "changelist")),
            admin_client.get(admin_url(model, "change", obj.pk)),
        ]
        for page in pages:
            html = page.content.decode()
            assert obj.token_hash not in html
            assert obj.token_hash[:8] in html


def test_revoke_action_revokes_selected_tokens(admin_client):
    kept = ApiTokenFactory(token="cv_kept")
    ApiTokenFactory(token="cv_revoked")
    revoked = ApiToken.objects.exclude(pk=kept.pk).get()
    response = admin_client.post(
        admin_url(ApiToken, "changelist"),
        {"action": "revoke", "_selected_action": [revoked.pk]},
        follow=True,
    )
    assert "Revoked 1 token(s)." in response.content.decode()
    assert token_authenticate("cv_revoked") is None
    assert token_authenticate("cv_kept") is not None


def test_revoke_action_is_hidden_from_staff_without_change_permission(admin_client):
    staff = UserFactory(username="viewer", is_staff=True)
    staff.user_permissions.add(*_perms("view_apitoken"))
    client = Client()
    client.force_login(staff)
    response = client.get(admin_url(ApiToken, "changelist"))
    assert response.status_code == 200
    assert 'value="revoke"' not in response.content.decode()


def test_revoke_action_is_offered_to_superusers(admin_client):
    ApiTokenFactory()
    page = admin_client.get(admin_url(ApiToken, "changelist")).content.decode()
    assert 'value="revoke"' in page


def test_manager_can_add_a_user_who_signs_in_by_email_only(admin_client):
    response = admin_client.post(
        admin_url(User, "add"),
        {"username": "newbie", "email": "newbie@example.org", "usable_password": "false"},
    )
    assert response.status_code == 302, response.content.decode()
    newbie = User.objects.get(username="newbie")
    assert newbie.email == "newbie@example.org"
    assert not newbie.has_usable_password()


def test_two_users_cannot_share_an_email_address(admin_client):
    UserFactory(username="ann", email="ann@example.org")
    response = admin_client.post(
        admin_url(User, "add"),
        {"username": "ann2", "email": "ANN@example.org", "usable_password": "false"},
    )
    assert response.status_code == 200
    assert "Another account already uses this email address." in response.content.decode()
    assert not User.objects.filter(username="ann2").exists()


def _perms(*codenames: str) -> list[Model]:
    from django.contrib.auth.models import Permission

    return list(Permission.objects.filter(codename__in=codenames))


def test_approve_action_approves_waiting_members(admin_client, logs):
    waiting = MembershipFactory(is_approved=False, user__username="wanda")
    approved = MembershipFactory(community=waiting.community)
    response = admin_client.post(
        admin_url(Membership, "changelist"),
        {"action": "approve", "_selected_action": [waiting.pk, approved.pk]},
        follow=True,
    )
    assert "Approved 1 membership(s)." in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.is_approved
    [event] = logs.events("MEMBER_APPROVED")
    assert event.actor == "root"
    assert "wanda" in event.getMessage()


def _membership_form(membership: Membership, **changes: object) -> dict[str, object]:
    data = {
        "user": membership.user_id,
        "community": membership.community_id,
        "role": membership.role,
        "is_approved": "on",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not False}


def test_lobbyist_cannot_be_made_anonymous_and_the_form_says_why(admin_client):
    membership = MembershipFactory(role=Role.LOBBYIST)
    response = admin_client.post(
        admin_url(Membership, "change", membership.pk),
        _membership_form(membership, is_anonymous="on"),
    )
    assert response.status_code == 200
    assert "Lobbyists act in public and cannot be anonymous." in response.content.decode()
    membership.refresh_from_db()
    assert not membership.is_anonymous


def test_model_validation_alone_refuses_an_anonymous_lobbyist():
    """The admin relies on ``full_clean`` checking the database constraint (Django ≥ 4.1)."""
    from django.core.exceptions import ValidationError

    membership = MembershipFactory(role=Role.LOBBYIST)
    membership.is_anonymous = True
    with pytest.raises(ValidationError):
        membership.full_clean()


def test_lobbyist_cannot_be_anonymous_in_the_community_inline(admin_client):
    membership = MembershipFactory(role=Role.LOBBYIST)
    community = membership.community
    prefix = "memberships"
    data = {
        "name": community.name,
        "description": "",
        "auto_approve_applications": "on",
        "tie_break_policy": community.tie_break_policy,
        f"{prefix}-TOTAL_FORMS": "1",
        f"{prefix}-INITIAL_FORMS": "1",
        f"{prefix}-0-id": membership.pk,
        f"{prefix}-0-community": community.pk,
        f"{prefix}-0-user": membership.user_id,
        f"{prefix}-0-role": Role.LOBBYIST,
        f"{prefix}-0-is_anonymous": "on",
        f"{prefix}-0-is_approved": "on",
    }
    response = admin_client.post(admin_url(Community, "change", community.pk), data)
    assert response.status_code == 200
    assert "Lobbyists act in public and cannot be anonymous." in response.content.decode()
    membership.refresh_from_db()
    assert not membership.is_anonymous


def test_following_across_communities_is_refused_with_a_message(admin_client):
    follower = MembershipFactory()
    stranger = MembershipFactory()
    response = admin_client.post(
        admin_url(Following, "add"),
        {
            "community": follower.community_id,
            "follower": follower.pk,
            "followee": stranger.pk,
            "tags": "[]",
            "order": 1,
        },
    )
    assert response.status_code == 200
    assert "You can only follow a current member of the same community." in (
        response.content.decode()
    )
    assert not Following.objects.exists()


def test_choices_of_an_open_decision_are_read_only(admin_client):
    decision = DecisionFactory(status=DecisionStatus.OPEN)
    html = admin_client.get(admin_url(Decision, "change", decision.pk)).content.decode()
    assert 'name="choices-0-title"' not in html
    draft = DecisionFactory(status=DecisionStatus.DRAFT)
    html = admin_client.get(admin_url(Decision, "change", draft.pk)).content.decode()
    assert 'name="choices-0-title"' in html


def test_decision_status_is_read_only(admin_client):
    decision = DecisionFactory(status=DecisionStatus.DRAFT)
    html = admin_client.get(admin_url(Decision, "change", decision.pk)).content.decode()
    assert 'name="status"' not in html
