"""Creating, editing, publishing and closing decisions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from core.errors import DomainError, Forbidden, NotAuthenticated
from democracy.models import Decision, DecisionStatus
from democracy.pseudonyms import pseudonym
from democracy.services.decisions import (
    ChoiceSpec,
    decision_close,
    decision_close_due,
    decision_create,
    decision_publish,
    decision_update,
)
from tests.democracy.conftest import assert_error
from tests.factories import DecisionFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def later(days: int = 7) -> timezone.datetime:
    return timezone.now() + timedelta(days=days)


def specs(*titles: str) -> list[ChoiceSpec]:
    return [ChoiceSpec(title=title) for title in titles]


def titles(decision: Decision) -> list[str]:
    return list(decision.choices.order_by("position").values_list("title", flat=True))


@pytest.fixture
def manager():
    return MembershipFactory(is_manager=True)


@pytest.fixture
def draft(manager):
    return DecisionFactory(
        community=manager.community, status=DecisionStatus.DRAFT, choices=["Park", "Road"]
    )


# Creating


def test_manager_creates_a_draft_with_choices_in_order(manager, events):
    closes_at = later()
    decision = decision_create(
        user=manager.user,
        community=manager.community,
        title="  Budget ",
        description=" Where the money goes. ",
        closes_at=closes_at,
        choices=[ChoiceSpec(title=" Road ", description=" Fix it "), *specs("Park", "Library")],
    )
    decision.refresh_from_db()
    assert decision.status == DecisionStatus.DRAFT
    assert (decision.title, decision.description) == ("Budget", "Where the money goes.")
    assert decision.closes_at == closes_at
    assert decision.created_by == manager
    assert decision.published_at is None
    choices = list(decision.choices.order_by("position"))
    assert [(c.title, c.position) for c in choices] == [("Road", 0), ("Park", 1), ("Library", 2)]
    assert choices[0].description == "Fix it"
    record = events.one("DECISION_CREATED")
    assert record.actor == manager.user.username
    assert "3 choices" in record.getMessage()


def test_creating_accepts_fifty_choices(manager):
    decision = decision_create(
        user=manager.user,
        community=manager.community,
        title="Many",
        closes_at=later(),
        choices=specs(*(f"Choice {i}" for i in range(50))),
    )
    assert decision.choices.count() == 50


def test_a_member_who_is_not_a_manager_cannot_create(unchanged):
    member = MembershipFactory()
    with unchanged(), pytest.raises(Forbidden):
        decision_create(
            user=member.user,
            community=member.community,
            title="Budget",
            closes_at=later(),
            choices=specs("Park", "Road"),
        )


def test_a_manager_of_another_community_cannot_create(manager, unchanged):
    other = MembershipFactory()
    with unchanged(), pytest.raises(Forbidden):
        decision_create(
            user=manager.user,
            community=other.community,
            title="Budget",
            closes_at=later(),
            choices=specs("Park", "Road"),
        )


def test_creating_requires_sign_in(manager, unchanged):
    with unchanged(), pytest.raises(NotAuthenticated):
        decision_create(
            user=AnonymousUser(),
            community=manager.community,
            title="Budget",
            closes_at=later(),
            choices=specs("Park", "Road"),
        )


BAD_CREATES = [
    pytest.param({"choices": specs()}, "TOO_FEW_CHOICES", "choices", id="no-choices"),
    pytest.param({"choices": specs("Park")}, "TOO_FEW_CHOICES", "choices", id="one-choice"),
    pytest.param(
        {"choices": specs(*(f"Choice {i}" for i in range(51)))},
        "TOO_MANY_CHOICES",
        "choices",
        id="51-choices",
    ),
    pytest.param(
        {"choices": specs("Park", "Road", " PARK ")}, "DUPLICATE_CHOICE", "choices", id="dup-ci"
    ),
    pytest.param({"choices": specs("Park", "  ")}, "REQUIRED", "choices", id="blank-choice"),
    pytest.param({"title": "   "}, "REQUIRED", "title", id="blank-title"),
    pytest.param({"title": "x" * 201}, "TOO_LONG", "title", id="long-title"),
    pytest.param({"title": "Bud\x00get"}, "INVALID_CHARACTERS", "title", id="nul-title"),
    pytest.param({"title": "Bud\nget"}, "INVALID_CHARACTERS", "title", id="newline-title"),
    pytest.param({"title": "Budget\u202e"}, "INVALID_CHARACTERS", "title", id="rlo-title"),
    pytest.param(
        {"choices": specs("Park", "Ro\u200bad")}, "INVALID_CHARACTERS", "choices", id="zwsp-choice"
    ),
    pytest.param(
        {"choices": specs("Car park", "Car\u00a0 park")},
        "DUPLICATE_CHOICE",
        "choices",
        id="dup-spacing",
    ),
    pytest.param({"description": "x" * 10_001}, "TOO_LONG", "description", id="long-text"),
    pytest.param({"description": "a\x1b[2Jb"}, "INVALID_CHARACTERS", "description", id="ansi"),
    pytest.param(
        {"choices": [ChoiceSpec("Park", "x" * 2001), ChoiceSpec("Road")]},
        "TOO_LONG",
        "choices",
        id="long-choice-description",
    ),
    pytest.param(
        {"closes_at": later().replace(tzinfo=None)},
        "INVALID_DATETIME",
        "closesAt",
        id="naive-closes-at",
    ),
    pytest.param(
        {"closes_at": timezone.now() - timedelta(minutes=1)},
        "CLOSES_IN_PAST",
        "closesAt",
        id="closes-in-past",
    ),
]


@pytest.mark.parametrize(("change", "code", "field"), BAD_CREATES)
def test_creating_refuses_bad_input(manager, unchanged, change, code, field):
    arguments = {"title": "Budget", "closes_at": later(), "choices": specs("Park", "Road")}
    with unchanged(), pytest.raises(DomainError) as raised:
        decision_create(user=manager.user, community=manager.community, **{**arguments, **change})
    assert_error(raised, code, field)


def test_a_description_keeps_its_line_breaks(manager):
    decision = decision_create(
        user=manager.user,
        community=manager.community,
        title="Budget",
        description="First line\n\tsecond line",
        closes_at=later(),
        choices=specs("Park", "Road"),
    )
    assert decision.description == "First line\n\tsecond line"


def test_creating_refuses_a_choice_title_too_long(manager, unchanged):
    with unchanged(), pytest.raises(DomainError) as raised:
        decision_create(
            user=manager.user,
            community=manager.community,
            title="Budget",
            closes_at=later(),
            choices=specs("Park", "x" * 201),
        )
    assert_error(raised, "TOO_LONG", "choices")


def test_creating_logs_an_anonymous_manager_by_pseudonym(events):
    manager = MembershipFactory(is_manager=True, is_anonymous=True, user__username="secretsam")
    decision_create(
        user=manager.user,
        community=manager.community,
        title="Budget",
        closes_at=later(),
        choices=specs("Park", "Road"),
    )
    assert events.one("DECISION_CREATED").actor == pseudonym(manager.pk)
    assert "secretsam" not in " ".join(events.lines())


# Editing a draft


def test_editing_a_draft_replaces_its_choices(manager, draft, events):
    old_ids = set(draft.choices.values_list("id", flat=True))
    closes_at = later(3)
    decision_update(
        user=manager.user,
        decision=draft,
        title="New title",
        description="New description",
        closes_at=closes_at,
        choices=specs("Library", "Pool", "Park"),
    )
    draft.refresh_from_db()
    assert (draft.title, draft.description, draft.closes_at) == (
        "New title",
        "New description",
        closes_at,
    )
    assert titles(draft) == ["Library", "Pool", "Park"]
    assert not old_ids & set(draft.choices.values_list("id", flat=True))
    assert events.one("DECISION_UPDATED")


def test_editing_without_choices_keeps_them(manager, draft):
    choice_ids = list(draft.choices.values_list("id", flat=True))
    decision_update(user=manager.user, decision=draft, title="Renamed")
    assert list(draft.choices.values_list("id", flat=True)) == choice_ids


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        pytest.param({"choices": specs("Only")}, "TOO_FEW_CHOICES", "choices", id="one-choice"),
        pytest.param({"choices": specs("a", "A")}, "DUPLICATE_CHOICE", "choices", id="dup"),
        pytest.param({"title": ""}, "REQUIRED", "title", id="blank-title"),
        pytest.param(
            {"closes_at": timezone.now() - timedelta(days=1)},
            "CLOSES_IN_PAST",
            "closesAt",
            id="closes-in-past",
        ),
    ],
)
def test_editing_refuses_bad_input_and_keeps_the_draft(
    manager, draft, unchanged, change, code, field
):
    with unchanged(), pytest.raises(DomainError) as raised:
        decision_update(user=manager.user, decision=draft, **{"title": "Changed", **change})
    assert_error(raised, code, field)


@pytest.mark.parametrize("status", [DecisionStatus.OPEN, DecisionStatus.CLOSED])
def test_only_a_draft_can_be_edited(manager, unchanged, status):
    decision = DecisionFactory(community=manager.community, status=status)
    with unchanged(), pytest.raises(DomainError) as raised:
        decision_update(user=manager.user, decision=decision, choices=specs("A", "B"))
    assert_error(raised, "DECISION_NOT_DRAFT", "decisionId")


def test_a_member_who_is_not_a_manager_cannot_edit(draft, unchanged):
    member = MembershipFactory(community=draft.community)
    with unchanged(), pytest.raises(Forbidden):
        decision_update(user=member.user, decision=draft, title="Mine")


# Publishing


def test_publishing_opens_a_draft(manager, draft, events):
    decision_publish(user=manager.user, decision=draft)
    draft.refresh_from_db()
    assert draft.status == DecisionStatus.OPEN
    assert draft.published_at is not None
    assert events.one("DECISION_PUBLISHED").actor == manager.user.username


@pytest.mark.parametrize("status", [DecisionStatus.OPEN, DecisionStatus.CLOSED])
def test_only_a_draft_can_be_published(manager, unchanged, status):
    decision = DecisionFactory(community=manager.community, status=status)
    with unchanged(), pytest.raises(DomainError) as raised:
        decision_publish(user=manager.user, decision=decision)
    assert_error(raised, "DECISION_NOT_DRAFT", "decisionId")


def test_a_draft_whose_closing_time_passed_cannot_be_published(manager, unchanged):
    decision = DecisionFactory(
        community=manager.community,
        status=DecisionStatus.DRAFT,
        closes_at=timezone.now() - timedelta(minutes=1),
    )
    with unchanged(), pytest.raises(DomainError) as raised:
        decision_publish(user=manager.user, decision=decision)
    assert_error(raised, "CLOSES_IN_PAST", "closesAt")


def test_a_member_who_is_not_a_manager_cannot_publish(draft, unchanged):
    member = MembershipFactory(community=draft.community)
    with unchanged(), pytest.raises(Forbidden):
        decision_publish(user=member.user, decision=draft)


# Closing


def test_a_manager_closes_an_open_decision(manager, events):
    decision = DecisionFactory(community=manager.community)
    decision_close(user=manager.user, decision=decision)
    decision.refresh_from_db()
    assert decision.status == DecisionStatus.CLOSED
    assert decision.closed_at is not None
    assert events.one("DECISION_CLOSED").actor == manager.user.username


@pytest.mark.parametrize("status", [DecisionStatus.DRAFT, DecisionStatus.CLOSED])
def test_only_an_open_decision_can_be_closed(manager, unchanged, status):
    decision = DecisionFactory(community=manager.community, status=status)
    with unchanged(), pytest.raises(DomainError) as raised:
        decision_close(user=manager.user, decision=decision)
    assert_error(raised, "DECISION_NOT_OPEN", "decisionId")


def test_a_member_who_is_not_a_manager_cannot_close(unchanged):
    member = MembershipFactory()
    decision = DecisionFactory(community=member.community)
    with unchanged(), pytest.raises(Forbidden):
        decision_close(user=member.user, decision=decision)


def test_close_due_closes_an_open_decision_past_its_closing_time(events):
    decision = DecisionFactory(closes_at=timezone.now() - timedelta(seconds=1))
    decision_close_due(decision=decision)
    decision.refresh_from_db()
    assert decision.status == DecisionStatus.CLOSED
    assert decision.closed_at is not None
    assert events.one("DECISION_CLOSED").actor == "system"


def test_close_due_leaves_a_decision_before_its_closing_time_open(unchanged):
    decision = DecisionFactory(closes_at=later())
    with unchanged(), pytest.raises(DomainError) as raised:
        decision_close_due(decision=decision)
    assert_error(raised, "DECISION_NOT_DUE", "decisionId")


@pytest.mark.parametrize("status", [DecisionStatus.DRAFT, DecisionStatus.CLOSED])
def test_close_due_refuses_a_decision_that_is_not_open(unchanged, status):
    decision = DecisionFactory(status=status, closes_at=timezone.now() - timedelta(days=1))
    with unchanged(), pytest.raises(DomainError) as raised:
        decision_close_due(decision=decision)
    assert_error(raised, "DECISION_NOT_OPEN", "decisionId")
