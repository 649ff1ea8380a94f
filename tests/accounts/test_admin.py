"""The admin site, as a manager who is not a developer uses it."""

from __future__ import annotations

import pytest
from django.db.models import Model
from django.test import Client

from accounts.models import ApiToken, MagicLink, User
from accounts.services.tokens import token_authenticate
from democracy.models import Ballot, Community, Decision, Following, Membership
from tests.conftest import admin_url
from tests.factories import (
    ApiTokenFactory,
    BallotFactory,
    FollowingFactory,
    MagicLinkFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MODELS = (User, ApiToken, MagicLink, Community, Membership, Following, Decision, Ballot)
ADDABLE = (User, Community, Decision)


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


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_and_change_form_load(admin_client, one_of_each, model):
    assert admin_client.get(admin_url(model, "changelist")).status_code == 200
    assert admin_client.get(admin_url(model, "changelist"), {"q": "a"}).status_code == 200
    change = admin_client.get(admin_url(model, "change", one_of_each[model].pk))
    assert change.status_code == 200


@pytest.mark.parametrize("model", ADDABLE, ids=lambda m: m.__name__)
def test_add_form_loads(admin_client, model):
    assert admin_client.get(admin_url(model, "add")).status_code == 200


@pytest.mark.parametrize(
    "model", [ApiToken, MagicLink, Membership, Following, Ballot], ids=lambda m: m.__name__
)
def test_records_of_secrets_memberships_and_votes_cannot_be_added(admin_client, model):
    assert admin_client.get(admin_url(model, "add")).status_code == 403


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_nothing_is_deleted_past_the_services(admin_client, one_of_each, model):
    """No service deletes these rows with its checks: people leave, tokens are revoked."""
    obj = one_of_each[model]
    assert admin_client.get(admin_url(model, "delete", obj.pk)).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()
    listing = admin_client.get(admin_url(model, "changelist")).content.decode()
    assert 'value="delete_selected"' not in listing


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


def test_revoke_action_revokes_selected_tokens(admin_client, logs):
    kept = ApiTokenFactory(token="cv_kept")
    ApiTokenFactory(token="cv_revoked", user__username="bob")
    revoked = ApiToken.objects.exclude(pk=kept.pk).get()
    response = admin_client.post(
        admin_url(ApiToken, "changelist"),
        {"action": "revoke", "_selected_action": [revoked.pk]},
        follow=True,
    )
    assert "Revoked 1 token(s)." in response.content.decode()
    assert token_authenticate("cv_revoked") is None
    assert token_authenticate("cv_kept") is not None
    [event] = logs.events("TOKEN_REVOKED")
    assert event.actor == "root"
    assert event.getMessage() == f"API token #{revoked.pk} of bob revoked"


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
