"""The incremental path under real concurrent transactions (on SQLite and PostgreSQL).

Ballots commit while a worker reads its changes: none may be lost to the state it keeps.
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from calc.models import Calculation, CalculationStatus, StoredSnapshot
from calc.services import decision_calculate
from democracy.models import Decision, Membership
from democracy.services.ballots import StarsSpec, ballot_cast
from tests.calc.conftest import calculated_around
from tests.calc.test_incremental_worker import whole
from tests.factories import BallotFactory, DecisionFactory, MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)


def cast_and_close(decision: Decision, member: Membership, choice: int, stars: int) -> None:
    """Cast from a thread of its own, closing its connection after."""
    try:
        ballot_cast(user=member.user, decision=decision, stars=[StarsSpec(choice, stars)])
    finally:
        connection.close()


def test_a_ballot_committed_while_the_worker_reads_its_changes_is_counted_next(settings):
    settings.CALC_DEBOUNCE_MS = 0
    decision = DecisionFactory(choices=["Park", "Road"])
    BallotFactory(decision=decision, stars={"Park": 5})
    early, late = (MembershipFactory(community=decision.community) for _ in range(2))
    park = decision.choices.get(title="Park").pk
    decision_calculate(decision.pk)  # read whole: the worker keeps its state
    ballot_cast(user=early.user, decision=decision, stars=[StarsSpec(park, 4)])
    held, *later = calculated_around(
        decision.pk,
        "calc_change",
        lambda: cast_and_close(decision, late, park, 3),
        starting="SELECT generation, kind",  # the read of the changes stamped, not the stamp
    )
    assert held.results["participation"]["countedBallots"] == 2
    assert later[-1].results["participation"]["countedBallots"] == 3
    assert StoredSnapshot.objects.get(pk=later[-1].pk).depth == 2  # both read as changes
    assert (later[-1].content_hash, later[-1].results) == whole(decision)


def test_a_storm_of_ballots_during_incremental_calculations_loses_none(settings):
    settings.CALC_DEBOUNCE_MS = 0
    decision = DecisionFactory(choices=["Park", "Road"])
    members = [MembershipFactory(community=decision.community) for _ in range(24)]
    park = decision.choices.get(title="Park").pk
    decision_calculate(decision.pk)
    rng = random.Random(1)
    casts = [(m, rng.randint(0, 5)) for m in members for _ in range(3)]
    rng.shuffle(casts)
    stop = threading.Event()

    def keep_calculating() -> int:
        runs = 0
        try:
            while not stop.is_set():
                runs += len(decision_calculate(decision.pk, owner="storm-worker"))
        finally:
            connection.close()
        return runs

    with ThreadPoolExecutor(max_workers=5) as pool:
        worker = pool.submit(keep_calculating)
        list(pool.map(lambda cast: cast_and_close(decision, cast[0], park, cast[1]), casts))
        stop.set()
        assert worker.result(timeout=60) > 1
    decision_calculate(decision.pk)
    last = Calculation.objects.filter(status=CalculationStatus.COMPLETED).latest()
    assert last.results["participation"]["countedBallots"] == len(members)
    assert (last.content_hash, last.results) == whole(decision)
    assert StoredSnapshot.objects.filter(depth__gt=0).exists()
