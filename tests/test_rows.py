"""Rows read by hand-written SQL (``core.rows``) are the rows the ORM reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiToken, User
from accounts.services.tokens import token_authenticate, token_issue
from democracy.ballot_rows import BallotWrite, ballot_write
from democracy.models import Ballot, BallotStar, Choice, Decision, Membership
from democracy.selectors import ballot_target
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


def test_a_ballot_target_reads_as_the_orm_reads_it_in_one_statement() -> None:
    decision = DecisionFactory(choices=["Park", "Road", "Pool"])
    Choice.objects.filter(decision=decision).update(position=0)  # then ordered by id
    member = MembershipFactory(community=decision.community)

    with CaptureQueriesContext(connection) as captured:
        found = ballot_target(decision.pk, member.user)

    # On PostgreSQL a connection's first use also prepares it (core.prepared).
    run = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("PREPARE")]
    assert len(run) == 1
    assert found is not None
    stored = Decision.objects.select_related("community").get(pk=decision.pk)
    assert values(found.decision) == values(stored)
    assert values(found.decision.community) == values(stored.community)
    assert [values(c) for c in found.choices] == [values(c) for c in stored.choices.all()]
    assert all(choice.decision is found.decision for choice in found.choices)
    assert found.membership is not None
    assert values(found.membership) == values(Membership.objects.get(pk=member.pk))
    assert found.membership.user is member.user
    assert found.membership.community is found.decision.community


def test_a_ballot_targets_choices_come_in_their_position_then_creation_order() -> None:
    decision = DecisionFactory(choices=["Park", "Road", "Pool", "Lake"])
    for title, position in {"Park": 2, "Road": 0, "Pool": 1, "Lake": 0}.items():
        Choice.objects.filter(decision=decision, title=title).update(position=position)
    member = MembershipFactory(community=decision.community)

    found = ballot_target(decision.pk, member.user)

    assert found is not None
    assert [c.title for c in found.choices] == ["Road", "Lake", "Pool", "Park"]
    assert [c.title for c in found.choices] == [c.title for c in decision.choices.all()]


def test_a_ballot_target_of_someone_outside_the_community_has_no_membership() -> None:
    decision = DecisionFactory(choices=["Park", "Road"])
    MembershipFactory(community=decision.community)  # someone else's
    MembershipFactory(user=(outsider := UserFactory()))  # the outsider's, elsewhere

    found = ballot_target(decision.pk, outsider)

    assert found is not None
    assert found.membership is None
    assert [c.title for c in found.choices] == ["Park", "Road"]


def test_a_ballot_target_of_a_decision_without_choices_lists_none() -> None:
    decision = DecisionFactory(choices=[])
    member = MembershipFactory(community=decision.community)

    found = ballot_target(decision.pk, member.user)

    assert found is not None
    assert found.choices == []
    assert found.decision.pk == decision.pk


def test_an_unknown_decision_reads_as_none() -> None:
    assert ballot_target(DecisionFactory().pk + 1, UserFactory()) is None


def _stars(ballot: Ballot) -> dict[str, int]:
    return {s.choice.title: s.stars for s in BallotStar.objects.filter(ballot=ballot)}


@pytest.mark.parametrize("every_choice", [True, False])
def test_a_written_ballot_reads_as_the_orm_reads_it(every_choice: bool) -> None:
    decision = DecisionFactory(choices=["Park", "Road"])
    membership = MembershipFactory(community=decision.community)
    park, road = decision.choices.all()
    rated = {park.pk: 5, road.pk: 0} if every_choice else {park.pk: 5}

    ballot, created = ballot_write(
        BallotWrite(
            decision_id=decision.pk,
            membership_id=membership.pk,
            tags=["budget", "parks"],
            comment="Why not",
            now=timezone.now(),
            rated=rated,
            every_choice=every_choice,
        )
    )

    assert created
    assert ballot.tags == ["budget", "parks"]  # JSON, decoded
    assert values(ballot) == values(Ballot.objects.get(pk=ballot.pk))
    assert _stars(ballot) == ({"Park": 5, "Road": 0} if every_choice else {"Park": 5})


@pytest.mark.parametrize(
    ("again", "every_choice", "kept"),
    [
        ({"Park": 1, "Road": 4}, True, {"Park": 1, "Road": 4}),  # updated in place
        ({"Road": 3}, False, {"Road": 3}),  # Park left out: dropped
        ({}, False, {}),  # none rated: all dropped
    ],
)
def test_a_ballot_written_again_keeps_only_the_stars_it_rates(
    again: dict[str, int], every_choice: bool, kept: dict[str, int]
) -> None:
    decision = DecisionFactory(choices=["Park", "Road"])
    membership = MembershipFactory(community=decision.community)
    ids = {c.title: c.pk for c in decision.choices.all()}
    first, _ = ballot_write(
        BallotWrite(
            decision_id=decision.pk,
            membership_id=membership.pk,
            tags=[],
            comment="",
            now=timezone.now() - timedelta(minutes=1),
            rated={ids["Park"]: 5, ids["Road"]: 2},
            every_choice=True,
        )
    )
    stars_before = {s.choice_id: s.pk for s in BallotStar.objects.filter(ballot=first)}

    ballot, created = ballot_write(
        BallotWrite(
            decision_id=decision.pk,
            membership_id=membership.pk,
            tags=["later"],
            comment="Changed my mind",
            now=timezone.now(),
            rated={ids[title]: stars for title, stars in again.items()},
            every_choice=every_choice,
        )
    )

    assert not created
    assert ballot.pk == first.pk
    assert (ballot.tags, ballot.comment) == (["later"], "Changed my mind")
    assert ballot.cast_at == first.cast_at
    assert _stars(ballot) == kept
    # Kept stars are the same rows, updated, not deleted and inserted again.
    after = {s.choice_id: s.pk for s in BallotStar.objects.filter(ballot=ballot)}
    assert all(after[choice] == stars_before[choice] for choice in after)
