"""``manage.py bench_ballots``, ``bench_latency`` and ``bench_fanout`` refuse bad arguments before starting
anything; the latency benchmark's helpers (their runs end to end are in ``tests/e2e/``)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from devtools.latency import percentile, star_vector


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clients", "0"], "--clients must be at least 1"),
        (["--clients", "5", "--voters", "4"], "--voters must be at least --clients"),
        (["--seconds", "0"], "--seconds must be positive"),
        (["--members", "0"], "--members must be at least 1"),
        (["--servers", "0"], "--servers must be at least 1"),
        (["--setup", "cloud"], "invalid choice: 'cloud'"),
    ],
)
def test_bench_ballots_refuses_bad_arguments(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("bench_ballots", *args)


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--subscribers", "0"], "--subscribers must be at least 1"),
        (["--subscribers", "5", "--ballots", "0"], "--ballots must be between 1 and 1000"),
        (["--subscribers", "5", "--ballots", "1001"], "--ballots must be between 1 and 1000"),
        (["--subscribers", "5", "--servers", "0"], "--servers must be at least 1"),
        (["--subscribers", "5", "--servers", "2"], "--servers above 1 needs --setup distributed"),
    ],
)
def test_bench_fanout_refuses_bad_arguments(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("bench_fanout", *args)


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
