"""A burst of 500 ballots from 50 concurrent clients: all stored, all counted, coalesced."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest

from devtools.benchsetup import HttpGraphQL, ServerProcess
from tests.e2e.conftest import Distributed
from tests.e2e.helpers import Sql, Vote, totals

pytestmark = pytest.mark.e2e

MEMBERS = 50
CASTS = 10
BURST_SECONDS = 50


def stars(member: int, cast: int) -> tuple[int, int]:
    """Return the (park, road) stars of a member's cast: every cast differs from the last."""
    return (member + cast) % 6, (2 * member + 3 * cast + 1) % 6


def run_burst(apis: list[HttpGraphQL], tokens: dict[str, str], sql: Sql) -> None:
    vote = Vote(apis[0], tokens)
    names = list(tokens)[1:]
    assert len(names) == MEMBERS
    max_running = 0
    polls = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal max_running, polls
        while not done.is_set():
            max_running = max(max_running, sql.running(vote.decision_pk))
            polls += 1
            time.sleep(0.01)

    def member(index: int) -> None:
        for cast in range(CASTS):
            vote.cast(names[index], *stars(index, cast), apis[index % len(apis)])

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(MEMBERS) as pool:
            for future in [pool.submit(member, i) for i in range(MEMBERS)]:
                future.result(timeout=BURST_SECONDS)
        burst = time.monotonic() - started
        final = {names[i]: stars(i, CASTS - 1) for i in range(MEMBERS)}
        expected = {
            "park": Decimal(sum(p for p, _ in final.values())),
            "road": Decimal(sum(r for _, r in final.values())),
        }
        deadline = time.monotonic() + 30
        while True:
            gens = sql(
                "SELECT calc_requested_gen, calc_completed_gen, (SELECT count(*) "
                "FROM calc_change WHERE decision_id = d.id AND generation IS NULL) "
                f"FROM democracy_decision d WHERE id = {vote.decision_pk}"
            )[0]
            caught_up = gens[0] == gens[1] and not gens[2] and not sql.running(vote.decision_pk)
            # Read the result only once caught up: read before, it may predate the last one.
            results = vote.results() if caught_up else None
            if results:
                break
            assert time.monotonic() < deadline, f"not caught up: {gens}, {results}"
            time.sleep(0.1)
    finally:
        done.set()
        poller.join(timeout=5)

    print(f"burst of {MEMBERS * CASTS} ballots took {burst:.1f}s; {polls} polls")
    assert results is not None
    assert totals(results) == expected
    assert results["participation"]["directBallots"] == MEMBERS
    for name, (park, road) in final.items():
        assert vote.my_ballot(name) == {"park": park, "road": road}, name
    assert (
        sql(f"SELECT COUNT(*) FROM democracy_ballot WHERE decision_id = {vote.decision_pk}")[0][0]
        == MEMBERS
    )
    calculations = sql(
        f"SELECT COUNT(*) FROM calc_calculation WHERE decision_id = {vote.decision_pk}"
    )[0][0]
    outcomes = sql(
        "SELECT status, failed_stage, error, COUNT(*) FROM calc_calculation "
        f"WHERE decision_id = {vote.decision_pk} GROUP BY status, failed_stage, error"
    )
    print(f"{calculations} calculations {outcomes}; at most {max_running} running at once")
    assert polls > 10
    assert max_running <= 1
    assert calculations < MEMBERS * CASTS / 5  # Coalesced, not one per ballot.


def voters(server: ServerProcess) -> dict[str, str]:
    return server.tokens("manager", *(f"voter{i:02d}" for i in range(MEMBERS)))


def test_a_burst_of_ballots_is_counted_whole_embedded(
    embedded: ServerProcess, tmp_path: Path
) -> None:
    port = embedded.start("serve")
    api = HttpGraphQL(f"http://127.0.0.1:{port}/graphql", timeout=BURST_SECONDS)
    run_burst([api], voters(embedded), Sql(tmp_path / "var" / "crowdvote.sqlite3"))


@pytest.mark.distributed
def test_a_burst_of_ballots_is_counted_whole_distributed(distributed: Distributed) -> None:
    servers = distributed.servers(2)
    for server in servers:
        server.timeout = BURST_SECONDS
    # Under this burst every cast transaction holds the decision row that lease renewals
    # update, so a renewal can wait seconds: the module's 3 s lease would expire under a
    # live worker, and a second worker would start the same decision.
    distributed.workers(2, CALC_LEASE_SECONDS="60")
    run_burst(servers, voters(distributed), Sql(distributed.database_url))
