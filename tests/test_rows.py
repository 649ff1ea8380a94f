"""Rows read by hand-written SQL (``core.rows``) are the rows the ORM reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Model
from django.utils import timezone

from accounts.models import ApiToken, User
from accounts.services.tokens import token_authenticate, token_issue
from democracy.ballot_rows import ballot_upsert
from democracy.models import Ballot, Choice, Decision
from democracy.selectors import decision_with_choices
from tests.factories import DecisionFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def values(obj: Model) -> list[object]:
    return [getattr(obj, field.attname) for field in obj._meta.concrete_fields]


def test_a_token_and_its_user_read_as_the_orm_reads_them() -> None:
    user = UserFactory(username="ann", last_login=timezone.now() - timedelta(days=1))
    token, raw = token_issue(user=user)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(days=1))

    found = token_authenticate(raw)

    assert found is not None
    stored = ApiToken.objects.get(pk=token.pk)
    assert values(found) == values(stored)  # last_used_at written again (a day old)
    assert values(found.user) == values(User.objects.get(pk=user.pk))
    assert found.user.is_active is True  # a bool, not SQLite's 1
    assert found.user.last_login is not None
    assert timezone.is_aware(found.user.last_login)


def test_a_decision_its_community_and_its_choices_read_as_the_orm_reads_them() -> None:
    decision = DecisionFactory()
    Choice.objects.filter(decision=decision).update(position=0)  # then ordered by id

    found = decision_with_choices(decision.pk)

    assert found is not None
    loaded, choices = found
    stored = Decision.objects.select_related("community").get(pk=decision.pk)
    assert values(loaded) == values(stored)
    assert values(loaded.community) == values(stored.community)
    assert [values(c) for c in choices] == [values(c) for c in stored.choices.all()]
    assert len(choices) > 1
    assert all(choice.decision is loaded for choice in choices)


def test_an_unknown_decision_reads_as_none() -> None:
    assert decision_with_choices(DecisionFactory().pk + 1) is None


def test_an_upserted_ballot_reads_as_the_orm_reads_it() -> None:
    decision = DecisionFactory()
    membership = MembershipFactory(community=decision.community)

    ballot, created = ballot_upsert(
        decision_id=decision.pk,
        membership_id=membership.pk,
        tags=["budget", "parks"],
        comment="Why not",
        now=timezone.now(),
    )

    assert created
    assert ballot.tags == ["budget", "parks"]  # JSON, decoded
    assert values(ballot) == values(Ballot.objects.get(pk=ballot.pk))
