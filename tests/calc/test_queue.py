"""Asking for recalculation: the generation bump, then a wake-up and a broadcast after commit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from calc.models import Calculation, CalculationStatus
from calc.queue import CALC_CHANNEL, WAKE, request_recalculation
from democracy.models import Decision
from democracy.services.ballots import StarsSpec, ballot_cast
from tests.calc.conftest import received, subscribe
from tests.factories import DecisionFactory, MembershipFactory


class Boom(Exception):
    pass


@pytest.fixture
def decision(db):
    return DecisionFactory(choices=["Park", "Road"])


def ask(decision: Decision) -> list[Calculation]:
    return request_recalculation(
        community_id=decision.community_id, trigger="test", decision_ids=[decision.pk]
    )


@pytest.mark.django_db
def test_commit_sends_one_wake_up_on_the_calc_channel(
    decision, layer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ask(decision)
    assert received(layer, CALC_CHANNEL) == [{"type": WAKE, "decision_id": decision.pk}]


@pytest.mark.django_db
def test_commit_broadcasts_the_queued_calculation_to_the_group(
    decision, layer, django_capture_on_commit_callbacks
):
    channel = subscribe(layer, decision.pk)
    with django_capture_on_commit_callbacks(execute=True):
        [calculation] = ask(decision)
    [message] = received(layer, channel)
    assert message["type"] == "calc.status"
    assert message["decision_id"] == decision.pk
    assert message["calculation"]["id"] == calculation.pk
    assert message["calculation"]["status"] == CalculationStatus.QUEUED


@pytest.mark.django_db
def test_a_request_absorbed_by_a_queued_calculation_sends_nothing(
    decision, layer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        [first] = ask(decision)
    received(layer, CALC_CHANNEL)
    channel = subscribe(layer, decision.pk)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        [second] = ask(decision)
    assert second.pk == first.pk
    assert second.change_count == 2
    stored = Calculation.objects.get(pk=first.pk)
    assert (stored.change_count, stored.trigger) == (2, "test")
    assert callbacks == []
    assert received(layer, CALC_CHANNEL) == []
    assert received(layer, channel) == []
    assert Decision.objects.get(pk=decision.pk).calc_requested_gen == 2


@pytest.mark.django_db
def test_community_wide_request_wakes_each_open_decision(
    decision, layer, django_capture_on_commit_callbacks
):
    sibling = DecisionFactory(community=decision.community)
    with django_capture_on_commit_callbacks(execute=True):
        request_recalculation(community_id=decision.community_id, trigger="test")
    woken = {message["decision_id"] for message in received(layer, CALC_CHANNEL)}
    assert woken == {decision.pk, sibling.pk}


@pytest.mark.django_db(transaction=True)
def test_a_ballot_cast_wakes_the_worker_after_a_real_commit(decision, layer):
    member = MembershipFactory(community=decision.community)
    received(layer, CALC_CHANNEL)  # The member joining already asked once.
    Calculation.objects.all().delete()
    park = decision.choices.get(title="Park")
    ballot_cast(user=member.user, decision=decision, stars=[StarsSpec(park.pk, 5)])
    assert received(layer, CALC_CHANNEL) == [{"type": WAKE, "decision_id": decision.pk}]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_request_changes_and_sends_nothing(decision, layer):
    channel = subscribe(layer, decision.pk)

    def ask_then_fail() -> None:
        with transaction.atomic():
            ask(decision)
            raise Boom

    with pytest.raises(Boom):
        ask_then_fail()
    assert received(layer, CALC_CHANNEL) == []
    assert received(layer, channel) == []
    assert Decision.objects.get(pk=decision.pk).calc_requested_gen == 0
    assert not Calculation.objects.exists()


@pytest.mark.django_db
def test_a_decision_past_its_close_is_not_bumped_nor_counted_by_a_cast(decision):
    """A cast asks only for an open decision; the count sent along with the bump
    (PostgreSQL) is taken back when the bump found the decision closed."""
    [queued] = ask(decision)
    Decision.objects.filter(pk=decision.pk).update(closes_at=timezone.now() - timedelta(seconds=1))

    answer = request_recalculation(
        community_id=decision.community_id,
        trigger="test",
        decision_ids=[decision.pk],
        open_only=True,
    )

    assert answer == []
    assert Calculation.objects.get(pk=queued.pk).change_count == 1
    assert Decision.objects.get(pk=decision.pk).calc_requested_gen == 1
