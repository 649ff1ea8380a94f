"""``manage.py bench_ballots``: a tiny embedded run end to end."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from calc.queue import LOG_STATEMENT
from core.prepared import statement_name
from devtools.benchsetup import postgres_url, redis_url, services_missing
from devtools.throughput import BALLOTS_LAST_MESSAGE
from tests.e2e.conftest import skip_or_fail


@pytest.mark.e2e
def test_a_tiny_embedded_run_counts_every_ballot_cast() -> None:
    out = io.StringIO()
    call_command(
        "bench_ballots",
        "--clients",
        "2",
        "--seconds",
        "2",
        "--voters",
        "4",
        "--members",
        "20",
        "--json",
        stdout=out,
    )
    report = json.loads(out.getvalue())
    assert (report["setup"], report["servers"]) == ("embedded", 1)
    assert report["server_cpu_ms_per_ballot"] > 0  # The server's own work, clients aside.
    cpu = report["cpu_ms_per_ballot"]
    assert cpu["servers"] == report["server_cpu_ms_per_ballot"]  # its worker runs inside
    assert (cpu["workers"], cpu["database"]) == (0, 0)  # none of their own: SQLite, in-process
    assert cpu["clients"] > 0
    assert cpu["machine"] * 1.1 + 0.1 >= cpu["servers"] + cpu["clients"]  # 10 ms ticks
    assert (report["clients"], report["voters"], report["members"]) == (2, 4, 20)
    assert report["ballots"] >= 4  # each client casts at least once a second here
    assert report["ballots_per_second"] == round(report["ballots"] / 2, 1)
    # Bursts coalesce: never more calculations than ballots, plus the one from seeding.
    assert 1 <= report["calculations"] <= report["ballots"] + 1
    # Sampled on PostgreSQL only: SQLite runs one write at a time.
    assert report["lock_wait_ms_per_ballot"] is None
    assert report["lock_contended_ms_per_ballot"] is None
    assert report["lock_held_ms_per_ballot"] is None
    assert report["lock_held_by_ballots_ms_per_ballot"] is None


@pytest.mark.e2e
def test_the_readable_summary_names_the_rate() -> None:
    out = io.StringIO()
    call_command(
        "bench_ballots",
        "--clients",
        "1",
        "--seconds",
        "1",
        "--voters",
        "1",
        "--members",
        "5",
        stdout=out,
    )
    text = out.getvalue()
    assert "Casting from 1 client for 1 s" in text
    assert "ballots/s" in text


@pytest.mark.e2e
@pytest.mark.distributed
def test_a_tiny_distributed_run_says_how_long_ballots_waited_for_locks() -> None:
    problem = services_missing(postgres_url(), redis_url())
    if problem:
        skip_or_fail(problem, test="distributed bench_ballots")
    out = io.StringIO()
    call_command(
        "bench_ballots",
        *("--setup", "distributed", "--servers", "1", "--clients", "2", "--seconds", "2"),
        *("--voters", "4", "--members", "20"),
        stdout=out,
    )
    summary = out.getvalue().strip().splitlines()[-1]
    waited = float(summary.split("waited ")[1].split(" ms")[0])
    contended = float(summary.split("for locks, ")[1].split(" ms")[0])
    held = float(summary.split("row locked ")[1].split(" ms")[0])
    by_ballots = float(summary.split("per ballot, ")[-1].split(" ms")[0])
    rate = float(summary.split(" ballots/s")[0].rsplit(" ", 1)[1])

    assert "distributed (1 server)" in summary
    assert "PostgreSQL 0.00" not in summary  # its processes' CPU, counted apart
    assert waited >= 0
    assert 0 <= contended <= 1000 / rate  # the row was wanted at most all of the time
    assert 0 <= by_ballots <= held <= 1000 / rate


def test_the_ballots_last_message_is_told_apart_by_the_bumps_prepared_name() -> None:
    # The casting clients cannot import calc (no Django there): the prefix is written out.
    name = statement_name(LOG_STATEMENT, 'UPDATE "democracy_decision" SET …')
    assert f"EXECUTE {name}(%s)".startswith(BALLOTS_LAST_MESSAGE)
