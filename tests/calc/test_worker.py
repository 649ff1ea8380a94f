"""The worker: wake-ups handled as Zulip's ``consume()`` is called, the runner, the sweeper."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.db.models import F
from django.utils import timezone

import calc.worker
from calc.kept import kept_states
from calc.models import Calculation, CalculationStatus, Change, ChangeKind
from calc.queue import CALC_CHANNEL, WAKE, wake_message
from calc.services import decision_calculate
from calc.worker import (
    CalcChannelRouter,
    CalcConsumer,
    CalcRunner,
    CalcWorker,
    get_runner,
    own_channel_name,
    sweep,
    sweep_once,
)
from democracy.models import Decision, DecisionStatus
from democracy.services.ballots import StarsSpec, ballot_cast
from tests.calc.conftest import received
from tests.factories import BallotFactory, DecisionFactory, MembershipFactory


class FakeCalculate:
    """Stands in for ``decision_calculate``: records calls and how many ran at once."""

    def __init__(self, hold: float = 0.0, fail_for: int | None = None) -> None:
        self.hold = hold
        self.fail_for = fail_for
        self.calls: list[int] = []
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, decision_id: int) -> list[Calculation]:
        with self.lock:
            self.calls.append(decision_id)
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            self.gate.wait(5)
            time.sleep(self.hold)
            if decision_id == self.fail_for:
                raise RuntimeError("calculation failed")
            return []
        finally:
            with self.lock:
                self.running -= 1


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeCalculate:
    calculate = FakeCalculate()
    monkeypatch.setattr(calc.worker, "decision_calculate", calculate)
    return calculate


async def test_runner_schedules_a_decision_once_while_it_runs_and_reruns_it_once(fake):
    runner = CalcRunner(2)
    fake.gate.clear()
    runner.schedule(1)

    async def started() -> bool:
        return fake.calls == [1]

    await eventually(started)
    for _ in range(3):
        runner.schedule(1)
    fake.gate.set()
    await runner.drain()
    assert fake.calls == [1, 1]


async def test_runner_runs_a_decision_woken_once_once(fake):
    runner = CalcRunner(2)
    runner.schedule(7)
    await runner.drain()
    assert fake.calls == [7]
    assert runner.running == set()


async def test_runner_never_exceeds_calc_max_concurrent(fake, settings):
    settings.CALC_MAX_CONCURRENT = 3
    fake.gate.clear()
    runner = get_runner()
    for decision_id in range(10):
        runner.schedule(decision_id)

    async def three_running() -> bool:
        return fake.running == 3

    await eventually(three_running)
    await asyncio.sleep(0.05)  # Room for a fourth to start, if the limit let it.
    fake.gate.set()
    await runner.drain()
    assert sorted(fake.calls) == list(range(10))
    assert fake.peak == 3


async def test_a_failing_calculation_does_not_stop_the_runner(fake, caplog):
    fake.fail_for = 1
    runner = CalcRunner(1)
    runner.schedule(1)
    runner.schedule(2)
    await runner.drain()
    assert sorted(fake.calls) == [1, 2]
    assert "Calculation of decision 1 failed" in caplog.text


@pytest.fixture
def voted(transactional_db):
    """Return an open decision with one ballot, its wake-up call still on the channel."""
    decision = DecisionFactory(choices=["Park", "Road"])
    member = MembershipFactory(community=decision.community)
    park = decision.choices.get(title="Park")
    ballot_cast(user=member.user, decision=decision, stars=[StarsSpec(park.pk, 5)])
    return decision


def completed(decision_id: int) -> list[Calculation]:
    return list(
        Calculation.objects.filter(decision_id=decision_id, status=CalculationStatus.COMPLETED)
    )


@pytest.mark.django_db(transaction=True)
async def test_a_wake_up_from_a_ballot_is_calculated_by_the_consumer(voted, layer):
    [message] = await sync_to_async(received)(layer, CALC_CHANNEL)
    assert message == {"type": WAKE, "decision_id": voted.pk}

    await CalcConsumer().calc_wake(message)
    await get_runner().drain()

    [calculation] = await sync_to_async(completed)(voted.pk)
    decision = await Decision.objects.aget(pk=voted.pk)
    assert calculation.generation == decision.calc_requested_gen == decision.calc_completed_gen


@pytest.mark.django_db(transaction=True)
async def test_a_message_without_a_decision_is_ignored_and_the_consumer_lives_on(
    voted, layer, caplog
):
    caplog.set_level(logging.WARNING, logger="calc.worker")
    app = CalcChannelRouter()
    communicator = ApplicationCommunicator(app, {"type": "channel", "channel": CALC_CHANNEL})
    await communicator.send_input({"type": WAKE})
    await communicator.send_input({"type": WAKE, "decision_id": str(voted.pk)})
    await communicator.send_input({"type": WAKE, "decision_id": voted.pk})

    async def calculated() -> bool:
        await get_runner().drain()
        return bool(await sync_to_async(completed)(voted.pk))

    await eventually(calculated)
    assert not communicator.future.done()
    assert caplog.text.count("Ignored a calc.wake message without a decision id") == 2
    communicator.stop()


@pytest.mark.django_db(transaction=True)
def test_sweep_recovers_a_lost_wake_up(layer):
    decision = DecisionFactory()
    BallotFactory(decision=decision, stars={"Yes": 5})
    received(layer, CALC_CHANNEL)  # The wake-up is lost.
    assert sweep() == [decision.pk]

    decision_calculate(decision.pk)
    assert sweep() == []
    Decision.objects.filter(pk=decision.pk).update(calc_requested_gen=F("calc_requested_gen") + 1)
    assert sweep() == [decision.pk]  # a generation stamped, then its calculation failed


@pytest.mark.django_db(transaction=True)
def test_sweep_finds_changes_logged_without_a_queued_calculation(layer):
    decision = DecisionFactory()
    BallotFactory(decision=decision, stars={"Yes": 5})
    decision_calculate(decision.pk)
    # As an older version, or a hand-written repair, would leave it: no QUEUED calculation.
    Change.objects.create(decision=decision, kind=ChangeKind.WHOLE)
    assert sweep() == [decision.pk]

    [calculation] = decision_calculate(decision.pk)
    assert (calculation.trigger, calculation.change_count) == ("Changes found waiting", 1)
    assert sweep() == []


@pytest.mark.django_db(transaction=True)
def test_sweep_leaves_a_decision_someone_is_calculating(layer):
    decision = DecisionFactory()
    BallotFactory(decision=decision, stars={"Yes": 5})
    Decision.objects.filter(pk=decision.pk).update(
        calc_lease_owner="busy", calc_lease_until=timezone.now() + timedelta(seconds=60)
    )
    assert sweep() == []


@pytest.mark.django_db(transaction=True)
def test_sweep_fails_a_stuck_calculation(layer):
    decision = DecisionFactory()
    stuck = Calculation.objects.create(
        decision=decision, status=CalculationStatus.READY, trigger="t", started_at=timezone.now()
    )
    sweep()
    stuck.refresh_from_db()
    assert stuck.status == CalculationStatus.FAILED


@pytest.mark.django_db(transaction=True)
async def test_sweep_closes_due_decisions_and_their_final_calculation_follows(layer):
    def make() -> Decision:
        decision = DecisionFactory()
        BallotFactory(decision=decision, stars={"Yes": 5})
        decision_calculate(decision.pk)
        Decision.objects.filter(pk=decision.pk).update(closes_at=timezone.now())
        return decision

    decision = await sync_to_async(make)()
    await sweep_once(get_runner())
    await get_runner().drain()

    closed = await Decision.objects.aget(pk=decision.pk)
    assert closed.status == DecisionStatus.CLOSED
    assert closed.calc_completed_gen == closed.calc_requested_gen
    final = await Calculation.objects.aget(decision_id=decision.pk, is_final=True)
    assert final.status == CalculationStatus.COMPLETED
    assert final.generation == closed.calc_requested_gen


@pytest.mark.django_db(transaction=True)
def test_a_decision_whose_state_a_worker_keeps_is_woken_on_that_worker_s_channel(layer):
    decision = DecisionFactory(choices=["Yes", "No"])
    BallotFactory(decision=decision, stars={"Yes": 5})
    received(layer, CALC_CHANNEL)
    mine = own_channel_name()
    assert mine.startswith("calc.")
    kept_states.channel = mine
    try:
        decision_calculate(decision.pk)
    finally:
        kept_states.channel = ""
    assert Decision.objects.get(pk=decision.pk).calc_kept_by == mine

    voter = MembershipFactory(community=decision.community)
    yes = decision.choices.get(title="Yes").pk
    ballot_cast(user=voter.user, decision=decision, stars=[StarsSpec(yes, 3)])
    assert received(layer, mine) == [wake_message(decision.pk)]
    assert received(layer, CALC_CHANNEL) == []

    decision_calculate(decision.pk)  # by a process without a worker channel of its own
    assert Decision.objects.get(pk=decision.pk).calc_kept_by == ""


@pytest.mark.django_db(transaction=True)
async def test_the_router_takes_the_shared_and_the_workers_own_channels_only():
    router = CalcChannelRouter()
    with pytest.raises(ValueError, match="No route found for channel 'elsewhere'"):
        await router({"type": "channel", "channel": "elsewhere"}, None, None)
    communicator = ApplicationCommunicator(
        router, {"type": "channel", "channel": own_channel_name()}
    )
    await communicator.send_input({"type": WAKE})  # ignored, but received: a route exists
    await asyncio.sleep(0.05)
    assert not communicator.future.done()
    communicator.stop()


def test_a_worker_alone_in_its_process_has_no_channel_of_its_own(layer):
    """With the in-memory layer its name would outlive a restart and lead wake-ups nowhere."""
    worker = CalcWorker(application=None, channels=[CALC_CHANNEL], channel_layer=layer)
    assert worker.channels == [CALC_CHANNEL]
    assert kept_states.channel == ""
