"""Distributed end to end: daphne servers and `runworker calc` processes on PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from devtools.benchsetup import GraphQLSocket
from tests.e2e.conftest import Distributed
from tests.e2e.helpers import RESULTS, Sql, Vote, pk, totals

pytestmark = [pytest.mark.e2e, pytest.mark.distributed]

NAMES = ("ann", "ben", "cat")


def with_totals(park: int, road: int) -> Callable[[dict[str, Any]], bool]:
    want = {"park": Decimal(park), "road": Decimal(road)}
    return lambda event: totals(event["decisionResults"]) == want


def ws_url(api: Any) -> str:
    return str(api.url).replace("http://", "ws://")


def wait_for_results(vote: Vote, park: int, road: int, timeout: float) -> dict[str, Any]:
    """Poll the decision's latest result over HTTP until it has these totals."""
    want = {"park": Decimal(park), "road": Decimal(road)}
    deadline = time.monotonic() + timeout
    while True:
        results = vote.results()
        if results and totals(results) == want:
            return results
        if time.monotonic() > deadline:
            raise AssertionError(f"no result with totals {want} in {timeout}s; latest: {results}")
        time.sleep(0.1)


def test_a_subscriber_on_one_server_sees_ballots_cast_on_the_other(
    distributed: Distributed,
) -> None:
    server_a, server_b = distributed.servers(2)
    distributed.workers(2)
    vote = Vote(server_a, distributed.tokens(*NAMES))

    async def scenario() -> None:
        async with GraphQLSocket(ws_url(server_a), vote.tokens["ann"]) as socket:
            await socket.subscribe("results", RESULTS, id=vote.decision)
            await socket.wait_for("results", with_totals(0, 0), timeout=30)
            for name, park, road in (("ann", 5, 1), ("ben", 3, 4), ("cat", 0, 2)):
                await asyncio.to_thread(vote.cast, name, park, road, server_b)
            await socket.wait_for("results", with_totals(8, 7), timeout=30)
            await asyncio.to_thread(vote.cast, "ben", 1, 1, server_b)
            event = await socket.wait_for("results", with_totals(6, 4), timeout=30)
            assert event["decisionResults"]["participation"]["countedBallots"] == 3

    asyncio.run(scenario())


def test_a_worker_killed_mid_calculation_loses_nothing(distributed: Distributed) -> None:
    (server,) = distributed.servers(1)
    # Each calculation sits in CREATING for 1.5 s: long enough to catch its worker and kill it.
    pids = distributed.workers(2, CALC_DEBOUNCE_MS="1500")
    vote = Vote(server, distributed.tokens(*NAMES))
    sql = Sql(distributed.database_url)
    wait_for_results(vote, 0, 0, timeout=30)

    vote.cast("ann", 5, 1)
    vote.cast("ben", 3, 4)
    deadline = time.monotonic() + 15
    while not (
        caught := sql(
            "SELECT c.id, c.worker, d.calc_lease_owner FROM calc_calculation c "
            "JOIN democracy_decision d ON d.id = c.decision_id "
            f"WHERE c.decision_id = {vote.decision_pk} AND c.status = 'CREATING'"
        )
    ):
        assert time.monotonic() < deadline, "no calculation was seen in CREATING"
        time.sleep(0.02)
    ((victim_calculation, worker, lease_owner),) = caught
    assert lease_owner == worker  # The lease holder is the one calculating.
    victim = int(worker.split("#")[0].rsplit(":", 1)[1])  # "host:pid#claim"
    assert victim in pids
    os.kill(victim, signal.SIGKILL)
    survivor = next(p for p in pids if p != victim)

    results = wait_for_results(vote, 8, 5, timeout=40)

    ((status, stage, error),) = sql(
        f"SELECT status, failed_stage, error FROM calc_calculation WHERE id = {victim_calculation}"
    )
    assert (status, stage) == ("FAILED", "CREATING"), error
    ((completed_by,),) = sql(
        f"SELECT worker FROM calc_calculation WHERE id = {pk(results['calculationId'])}"
    )
    assert completed_by.startswith(worker.split(":")[0] + f":{survivor}#")
    assert sql.running(vote.decision_pk) == 0
    # The victim kept the decision (wake-ups go to its keeper): the survivor rebuilt that
    # state from the last stored snapshot and stored only the changes on top of it.
    ((previous, depth),) = sql(
        "SELECT previous_id, depth FROM calc_storedsnapshot "
        f"WHERE calculation_id = {pk(results['calculationId'])}"
    )
    assert previous is not None
    assert depth >= 1


def test_a_lost_wake_up_is_recovered_by_the_sweeper(distributed: Distributed) -> None:
    (server,) = distributed.servers(1)
    distributed.workers(1)
    vote = Vote(server, distributed.tokens(*NAMES))
    sql = Sql(distributed.database_url)
    first = wait_for_results(vote, 0, 0, timeout=30)

    # A ballot stored and its recalculation requested in one transaction, exactly as a
    # service does, but with the wake-up message lost: only the sweeper can find it.
    park, road = pk(vote.choices["park"]), pk(vote.choices["road"])
    sql(
        "WITH b AS (INSERT INTO democracy_ballot "
        "(decision_id, membership_id, tags, comment, cast_at, updated_at) "
        f"VALUES ({vote.decision_pk}, {pk(vote.members['ben'])}, '[]', '', now(), now()) "
        "RETURNING id) "
        f"INSERT INTO democracy_ballotstar (ballot_id, choice_id, stars) "
        f"SELECT id, {park}, 4 FROM b UNION ALL SELECT id, {road}, 2 FROM b; "
        "INSERT INTO calc_change (decision_id, generation, kind, member_id, created_at) "
        f"VALUES ({vote.decision_pk}, NULL, 'BALLOT', {pk(vote.members['ben'])}, now())"
    )
    requested_at = time.monotonic()
    recovered = wait_for_results(vote, 4, 2, timeout=15)  # CALC_SWEEP_SECONDS is 1.
    assert pk(recovered["calculationId"]) > pk(first["calculationId"])
    assert time.monotonic() - requested_at < 10
    ((requested, completed, waiting),) = sql(
        "SELECT calc_requested_gen, calc_completed_gen, (SELECT count(*) FROM calc_change "
        "WHERE decision_id = d.id AND generation IS NULL) FROM democracy_decision d "
        f"WHERE id = {vote.decision_pk}"
    )
    assert (requested, waiting) == (completed, 0)


def test_a_decision_stays_with_the_worker_that_keeps_its_state(distributed: Distributed) -> None:
    """Two workers: after the first result, every calculation of the decision is made by
    the worker keeping its state, from the changes alone (each snapshot one more delta)."""
    (server,) = distributed.servers(1)
    distributed.workers(2)
    vote = Vote(server, distributed.tokens(*NAMES))
    sql = Sql(distributed.database_url)
    first = pk(wait_for_results(vote, 0, 0, timeout=30)["calculationId"])
    for name, park, road in (("ann", 5, 1), ("ben", 3, 4), ("cat", 0, 2), ("ann", 1, 1)):
        vote.cast(name, park, road)
    vote.cast("ben", 2, 2)
    wait_for_results(vote, 3, 5, timeout=30)  # ann 1/1, ben 2/2, cat 0/2
    rows = sql(
        "SELECT c.worker, s.depth FROM calc_calculation c "
        "JOIN calc_storedsnapshot s ON s.calculation_id = c.id "
        f"WHERE c.decision_id = {vote.decision_pk} AND c.id > {first} AND c.status = 'COMPLETED' "
        "ORDER BY c.id"
    )
    assert rows, "no calculation after the first result"
    (first_depth,) = sql(f"SELECT depth FROM calc_storedsnapshot WHERE calculation_id = {first}")[0]
    assert [depth for _, depth in rows] == list(range(first_depth + 1, first_depth + 1 + len(rows)))
    assert len({worker.split("#")[0] for worker, _ in rows}) == 1
    ((kept_by,),) = sql(
        f"SELECT calc_kept_by FROM democracy_decision WHERE id = {vote.decision_pk}"
    )
    assert kept_by.startswith("calc.")
