"""``manage.py bench_latency``: its arguments, and a tiny embedded run end to end."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from devtools.latency import percentile, star_vector


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--members", "0"], "--members must be at least 1"),
        (["--members", "5", "--ballots", "0"], "--ballots must be at least 1"),
        (["--members", "5", "--choices", "0"], "--choices must be between 1 and 50"),
        (["--members", "5", "--choices", "1", "--ballots", "6"], "needs more --choices"),
        (["--members", "5", "--setup", "cloud"], "invalid choice: 'cloud'"),
        ([], "the following arguments are required: --members"),
    ],
)
def test_bench_latency_refuses_bad_arguments(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("bench_latency", *args)


def test_each_ballot_gets_new_stars() -> None:
    vectors = [tuple(star_vector(i, 3)) for i in range(215)]
    assert len(set(vectors)) == 215
    assert all(0 <= s <= 5 for v in vectors for s in v)
    with pytest.raises(ValueError, match="more choices"):
        star_vector(215, 3)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.95) == 95
    assert percentile(values, 0.5) == 50
    assert percentile([7.0], 0.95) == 7


@pytest.mark.e2e
def test_a_tiny_embedded_run_reports_latencies() -> None:
    out = io.StringIO()
    call_command(
        "bench_latency",
        "--members",
        "50",
        "--ballots",
        "3",
        "--choices",
        "3",
        "--json",
        stdout=out,
    )
    report = json.loads(out.getvalue())
    assert report["setup"] == "embedded"
    assert report["members"] == 51  # The 50 generated and the voter who casts.
    assert report["ballots"] == len(report["latencies_ms"]) == 3
    assert 0 <= report["median_ms"] <= report["p95_ms"] <= report["max_ms"] < 30_000
    assert report["followings"] > 0
