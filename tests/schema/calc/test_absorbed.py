"""A queued calculation that a running one covers stays resolvable: COMPLETED, absorbedBy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from strawberry.relay import to_base64

import calc.services
from accounts.services.tokens import token_issue
from calc.models import Calculation, CalculationStatus
from calc.queue import request_recalculation
from calc.services import decision_calculate
from schema.calc.types import CalculationStatusEnum
from tests.factories import BallotFactory, DecisionFactory, MembershipFactory
from tests.schema.conftest import gid
from tests.schema.sockets import STATUS, next_payload, open_socket, subscribe

RECALCULATE = """mutation($id: ID!) { recalculateDecision(decisionId: $id) {
  calculation { id status } errors { code } } }"""
FOLLOW = """query($id: ID!) { node(id: $id) { ... on Calculation {
  id status isFinal finishedAt generation absorbedBy { id status } } } }"""
DECISION = """query($id: ID!) { decision(id: $id) {
  calculation { id status absorbedBy { id } } results { calculationId } } }"""


def calc_id(pk: int) -> str:
    return to_base64("Calculation", pk)


@pytest.fixture
def managed():
    manager = MembershipFactory(is_manager=True)
    decision = DecisionFactory(community=manager.community, choices=["park", "road"])
    BallotFactory(decision=decision, membership=manager, stars={"park": 4})
    return manager, decision


def while_running(monkeypatch: pytest.MonkeyPatch, change: Callable[[], Any]) -> list[Any]:
    """Make ``change`` happen once a calculation has started, before it stamps the changes
    waiting (and so before its snapshot)."""
    original = calc.services.generation_stamped
    done: list[Any] = []

    def stamp_after_the_change(decision_id: int, calculation: Calculation):
        if not done:
            done.append(change())
        return original(decision_id, calculation)

    monkeypatch.setattr(calc.services, "generation_stamped", stamp_after_the_change)
    return done


@pytest.mark.django_db
def test_a_recalculation_covered_by_the_running_one_stays_resolvable(
    graphql_as, managed, monkeypatch
) -> None:
    manager, decision = managed
    client = graphql_as(manager.user)
    answers = while_running(monkeypatch, lambda: client(RECALCULATE, id=gid(decision)).data)

    [ran] = decision_calculate(decision.pk)

    queued = answers[0]["recalculateDecision"]["calculation"]
    assert queued["status"] == "QUEUED"
    followed = client(FOLLOW, id=queued["id"]).data["node"]
    assert followed == {
        "id": queued["id"],
        "status": "COMPLETED",
        "isFinal": False,
        "finishedAt": ran.finished_at.isoformat(),
        "generation": ran.generation,
        "absorbedBy": {"id": calc_id(ran.pk), "status": "COMPLETED"},
    }
    # The decision's calculation and result are the one that ran.
    current = client(DECISION, id=gid(decision)).data["decision"]
    assert current["calculation"] == {
        "id": calc_id(ran.pk),
        "status": "COMPLETED",
        "absorbedBy": None,
    }
    assert current["results"] == {"calculationId": calc_id(ran.pk)}


@pytest.mark.django_db
def test_a_calculation_that_ran_was_absorbed_by_nothing(graphql_as, managed) -> None:
    manager, decision = managed
    [ran] = decision_calculate(decision.pk)

    followed = graphql_as(manager.user)(FOLLOW, id=calc_id(ran.pk)).data["node"]

    assert followed["absorbedBy"] is None
    assert followed["status"] == "COMPLETED"


@pytest.mark.django_db
def test_absorbing_keeps_one_queued_none_running_and_the_next_request_queues_afresh(
    managed, monkeypatch
) -> None:
    _, decision = managed

    def burst() -> list[Calculation]:
        requests = [
            request_recalculation(
                community_id=decision.community_id,
                trigger=f"change {n}",
                decision_ids=[decision.pk],
            )
            for n in range(3)
        ]
        return [calculation for [calculation] in requests]

    bursts = while_running(monkeypatch, burst)
    [ran] = decision_calculate(decision.pk)

    # The burst gathered into one queued calculation, which the running one absorbed.
    assert len({c.pk for c in bursts[0]}) == 1
    absorbed = Calculation.objects.get(pk=bursts[0][0].pk)
    assert (absorbed.status, absorbed.absorbed_by_id, absorbed.change_count) == (
        CalculationStatus.ABSORBED,
        ran.pk,
        3,
    )
    assert not Calculation.objects.filter(status=CalculationStatus.QUEUED).exists()
    [after] = request_recalculation(
        community_id=decision.community_id, trigger="later", decision_ids=[decision.pk]
    )
    assert after.status == CalculationStatus.QUEUED
    assert after.pk not in {absorbed.pk, ran.pk}


@pytest.mark.django_db(transaction=True)
async def test_the_status_subscription_streams_the_absorption(managed, monkeypatch) -> None:
    manager, decision = managed
    token = (await sync_to_async(token_issue)(user=manager.user))[1]
    socket = await open_socket(token)
    await subscribe(
        socket, "s", STATUS.replace("id status", "id status absorbedBy { id }"), id=gid(decision)
    )
    first = (await next_payload(socket))["data"]["calculationStatus"]
    assert first["status"] == "QUEUED"
    queued = while_running(
        monkeypatch,
        lambda: request_recalculation(
            community_id=decision.community_id, trigger="late", decision_ids=[decision.pk]
        )[0],
    )

    [ran] = await sync_to_async(decision_calculate)(decision.pk)

    seen = [(await next_payload(socket))["data"]["calculationStatus"] for _ in range(7)]
    await socket.disconnect()
    absorbed_id = calc_id(queued[0].pk)
    ran_id = calc_id(ran.pk)
    assert [s for s in seen if s["id"] == absorbed_id] == [
        {"id": absorbed_id, "status": "QUEUED", "absorbedBy": None},
        {"id": absorbed_id, "status": "COMPLETED", "absorbedBy": {"id": ran_id}},
    ]
    assert [s["status"] for s in seen if s["id"] == ran_id] == [
        "CREATING",
        "READY",
        "STAGING",
        "TALLYING",
        "COMPLETED",
    ]
    # The absorption comes after the result that covers it.
    assert seen[-1]["id"] == absorbed_id


def test_the_api_shows_every_status_but_absorbed() -> None:
    assert [s.value for s in CalculationStatusEnum] == [
        s for s in CalculationStatus.values if s != CalculationStatus.ABSORBED
    ]
