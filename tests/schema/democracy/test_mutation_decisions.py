"""createDecision, updateDecision, publishDecision, closeDecision through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from democracy.models import Choice, Decision, DecisionStatus
from tests.factories import DecisionFactory, MembershipFactory
from tests.schema.conftest import gid

pytestmark = pytest.mark.django_db

CREATE = """
mutation($input: CreateDecisionInput!) {
  createDecision(input: $input) {
    decision { title status choices { title description } }
    errors { code field message }
  }
}"""
UPDATE = """
mutation($input: UpdateDecisionInput!) {
  updateDecision(input: $input) { decision { title choices { title } } errors { code field } }
}"""
PUBLISH = """mutation($id: ID!) { publishDecision(decisionId: $id) { decision { status } errors { code field } } }"""
CLOSE = """mutation($id: ID!) { closeDecision(decisionId: $id) { decision { status } errors { code field } } }"""


def later(days: int = 7) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


@pytest.fixture
def manager(user):
    return MembershipFactory(user=user, is_manager=True)


def create_input(manager, **overrides):
    return {
        "communityId": gid(manager.community),
        "title": "Budget",
        "closesAt": later(),
        "choices": [{"title": "Park", "description": "Green"}, {"title": "Road"}],
        **overrides,
    }


def test_manager_creates_a_draft_with_choices_in_order(graphql_as, manager):
    payload = graphql_as(manager.user)(CREATE, input=create_input(manager)).data["createDecision"]
    assert payload["errors"] == []
    assert payload["decision"] == {
        "title": "Budget",
        "status": "DRAFT",
        "choices": [
            {"title": "Park", "description": "Green"},
            {"title": "Road", "description": ""},
        ],
    }


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"choices": [{"title": "Only"}]}, "TOO_FEW_CHOICES", "choices"),
        ({"choices": []}, "TOO_FEW_CHOICES", "choices"),
        ({"choices": [{"title": "Park"}, {"title": "park"}]}, "DUPLICATE_CHOICE", "choices"),
        ({"choices": [{"title": f"c{i}"} for i in range(51)]}, "TOO_MANY_CHOICES", "choices"),
        ({"closesAt": "2001-01-01T00:00:00+00:00"}, "CLOSES_IN_PAST", "closesAt"),
        ({"title": "   "}, "REQUIRED", "title"),
    ],
)
def test_bad_decision_input_changes_nothing(graphql_as, manager, overrides, code, field):
    payload = graphql_as(manager.user)(CREATE, input=create_input(manager, **overrides)).data[
        "createDecision"
    ]
    assert (payload["errors"][0]["code"], payload["errors"][0]["field"]) == (code, field)
    assert not Decision.objects.exists()
    assert not Choice.objects.exists()


def test_member_who_is_not_manager_cannot_create(graphql_as, manager):
    member = MembershipFactory(community=manager.community)
    response = graphql_as(member.user)(CREATE, input=create_input(manager))
    assert response.error_codes == ["FORBIDDEN"]
    assert not Decision.objects.exists()


def test_update_replaces_choices_of_a_draft(graphql_as, manager):
    decision = DecisionFactory(community=manager.community, status=DecisionStatus.DRAFT)
    payload = graphql_as(manager.user)(
        UPDATE,
        input={
            "decisionId": gid(decision),
            "title": "Renamed",
            "choices": [{"title": "A"}, {"title": "B"}, {"title": "C"}],
        },
    ).data["updateDecision"]
    assert payload == {
        "decision": {
            "title": "Renamed",
            "choices": [{"title": "A"}, {"title": "B"}, {"title": "C"}],
        },
        "errors": [],
    }


def test_published_decision_freezes_its_choices(graphql_as, manager):
    decision = DecisionFactory(community=manager.community, status=DecisionStatus.DRAFT)
    client = graphql_as(manager.user)
    assert client(PUBLISH, id=gid(decision)).data["publishDecision"] == {
        "decision": {"status": "OPEN"},
        "errors": [],
    }
    payload = client(
        UPDATE, input={"decisionId": gid(decision), "choices": [{"title": "X"}, {"title": "Y"}]}
    ).data["updateDecision"]
    assert payload["errors"] == [{"code": "DECISION_NOT_DRAFT", "field": "decisionId"}]
    assert list(decision.choices.values_list("title", flat=True)) == ["Yes", "No"]


def test_close_an_open_decision_once(graphql_as, manager):
    decision = DecisionFactory(community=manager.community)
    client = graphql_as(manager.user)
    assert client(CLOSE, id=gid(decision)).data["closeDecision"]["decision"] == {"status": "CLOSED"}
    again = client(CLOSE, id=gid(decision)).data["closeDecision"]
    assert again["errors"] == [{"code": "DECISION_NOT_OPEN", "field": "decisionId"}]


def test_publish_with_a_foreign_id_is_invalid_id(graphql_as, manager):
    payload = graphql_as(manager.user)(PUBLISH, id=gid(manager)).data["publishDecision"]
    assert payload["errors"] == [{"code": "INVALID_ID", "field": "decisionId"}]
