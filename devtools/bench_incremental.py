"""Benchmark incremental recalculation (``python -m devtools.bench_incremental``, no Django).

On the synthetic community of ``devtools.bench`` (same generator, same seed), ``--changes``
single-ballot changes are applied one at a time with ``calc.engine.incremental``: a random
direct voter gives new random stars, keeping their tags. Each is timed (``apply_changes``:
the update, the tally and the content hash of the new input), and the hash alone is timed
again apart. Then the direct voter with the highest influence (the largest upstream) does
the same, timed apart (``hub_ms``), and a member holding a delegated ballot casts one
(``first_cast_ms``: resolved in full, the canonical text edited). A full run
(``resolve_ballots`` + ``tally_star``, best of ``--repeat``, and the content hash apart, as
``bench_calc`` reports them) on the final input is the comparison, and its output must
equal the incremental one (every resolved array, the result's stored JSON and the content
hash): ``identical`` in the report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from calc.engine import DirectBallot, content_hash, decision_columns, resolve_ballots, tally_star
from calc.engine.canonical import BALLOTS
from calc.engine.incremental import BallotCast, apply_changes, build_state
from calc.result_json import result_to_json
from devtools.bench import generate, peak_rss_mb

if TYPE_CHECKING:
    from collections.abc import Sequence

    from calc.engine import ResolvedBallots
    from devtools.bench import Writer

_ARRAYS = (
    "is_voter",
    "is_direct",
    "has_ballot",
    "stars",
    "tag_bits",
    "active_ptr",
    "active_followee",
    "active_tag_bits",
    "active_order",
    "influence",
)


class Report(TypedDict):
    members: int
    followings: int
    choices: int
    changes: int
    load_average: list[float]
    build_ms: float
    incremental_ms_min: float
    incremental_ms_median: float
    incremental_ms_max: float
    hash_ms_median: float
    reached_median: int
    reached_max: int
    hub_ms: float
    hub_reached: int
    first_cast_ms: float
    modes: list[str]
    full_ms: float
    full_hash_ms: float
    speedup_median: float
    speedup_with_hash_median: float
    identical: bool
    peak_rss_mb: float


def _same(a: ResolvedBallots, b: ResolvedBallots) -> bool:
    return all(np.array_equal(getattr(a, n), getattr(b, n)) for n in _ARRAYS)


def run(
    members: int, *, choices: int = 10, seed: int = 0, changes: int = 5, repeat: int = 1
) -> Report:
    """Apply ``changes`` single-ballot changes incrementally, then run the full engine once."""
    columns = decision_columns(generate(members, choices, seed))
    start = time.perf_counter()
    state = build_state(columns)
    build_ms = (time.perf_counter() - start) * 1000
    rng = np.random.default_rng(seed + 1)
    ids = state.columns.member_ids
    times: list[float] = []
    hashes: list[float] = []
    reached: list[int] = []
    modes: list[str] = []
    for _ in range(changes):
        cols = state.columns
        at = int(rng.integers(cols.ballot_member.size))
        voter = ids[int(cols.ballot_member[at])]
        tags = cols.ballot_tag_sets[int(cols.ballot_tag_code[at])]
        stars = {c: int(rng.integers(0, 6)) for c in cols.choices}
        change = BallotCast(DirectBallot.of(voter, stars, tags))
        start = time.perf_counter()
        state, _, _ = apply_changes(state, [change])
        times.append((time.perf_counter() - start) * 1000)
        reached.append(state.last_solved)
        modes.append(state.last_mode)
        start = time.perf_counter()
        state.text.edited(state.columns, [(BALLOTS, "set", at)])
        hashes.append((time.perf_counter() - start) * 1000)
    # The worst case: the direct voter with the highest influence, whose upstream is largest.
    ranking = state.result.influence
    hub_ms = 0.0
    hub_reached = 0
    if ranking is not None and len(ranking):
        hub = ranking.page(0, 1)[0].member
        cols = state.columns
        at = int(np.searchsorted(cols.ballot_member, state.resolved.index_of(hub)))
        tags = cols.ballot_tag_sets[int(cols.ballot_tag_code[at])]
        stars = {c: int(rng.integers(0, 6)) for c in cols.choices}
        start = time.perf_counter()
        state, _, _ = apply_changes(state, [BallotCast(DirectBallot.of(hub, stars, tags))])
        hub_ms = (time.perf_counter() - start) * 1000
        hub_reached = state.last_solved
        modes.append(state.last_mode)
    # A first ballot of a member who held a delegated one: resolved in full, the text edited.
    cols = state.columns
    without = np.flatnonzero(state.resolved.is_delegated)
    newcomer = ids[int(without[rng.integers(without.size)])] if without.size else None
    cast_ms = 0.0
    if newcomer is not None:
        stars = {c: int(rng.integers(0, 6)) for c in cols.choices}
        start = time.perf_counter()
        state, _, _ = apply_changes(state, [BallotCast(DirectBallot.of(newcomer, stars, ()))])
        cast_ms = (time.perf_counter() - start) * 1000
        modes.append(state.last_mode)
    final = state.columns
    start = time.perf_counter()
    digest = content_hash(final)
    full_hash_ms = (time.perf_counter() - start) * 1000
    full_s = float("inf")
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        full = resolve_ballots(final)
        expected = tally_star(final, full, content_hash=digest)
        full_s = min(full_s, time.perf_counter() - start)
    identical = (
        state.content_hash == digest
        and _same(state.resolved, full)
        and json.dumps(result_to_json(state.result), sort_keys=True)
        == json.dumps(result_to_json(expected), sort_keys=True)
    )
    median = statistics.median(times) if times else 0.0
    return {
        "members": members,
        "followings": int(final.follow_src.size),
        "choices": choices,
        "changes": changes,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "build_ms": round(build_ms, 1),
        "incremental_ms_min": round(min(times, default=0.0), 2),
        "incremental_ms_median": round(median, 2),
        "incremental_ms_max": round(max(times, default=0.0), 2),
        "hash_ms_median": round(statistics.median(hashes) if hashes else 0.0, 2),
        "reached_median": int(statistics.median(reached)) if reached else 0,
        "reached_max": max(reached, default=0),
        "hub_ms": round(hub_ms, 2),
        "hub_reached": hub_reached,
        "first_cast_ms": round(cast_ms, 1),
        "modes": sorted(set(modes)),
        "full_ms": round(full_s * 1000, 1),
        "full_hash_ms": round(full_hash_ms, 1),
        "speedup_median": round(full_s * 1000 / median, 1) if median else 0.0,
        "speedup_with_hash_median": (
            round((full_s * 1000 + full_hash_ms) / median, 1) if median else 0.0
        ),
        "identical": identical,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options on ``parser`` (used by the Django command too)."""
    parser.add_argument("--members", type=int, default=10_000, help="synthetic community size")
    parser.add_argument("--choices", type=int, default=10, help="number of choices")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    parser.add_argument("--changes", type=int, default=5, help="single-ballot changes to time")
    parser.add_argument(
        "--repeat", type=int, default=1, help="time the full run this many times, keep the fastest"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def execute(values: dict[str, object], out: Writer) -> Report:
    """Run with parsed option values and print the report to ``out``."""

    def as_int(name: str, default: int) -> int:
        value = values.get(name)
        return default if value is None else int(str(value))

    members, choices = as_int("members", 10_000), as_int("choices", 10)
    if members < 1 or choices < 1:
        raise ValueError("--members and --choices must be at least 1")
    report = run(
        members,
        choices=choices,
        seed=as_int("seed", 0),
        changes=max(0, as_int("changes", 5)),
        repeat=as_int("repeat", 1),
    )
    if values.get("json"):
        out.write(json.dumps(report, sort_keys=True) + "\n")
    else:
        out.write(
            f"members {report['members']:,}  followings {report['followings']:,}  "
            f"load {report['load_average']}\n"
            f"one ballot, incremental: median {report['incremental_ms_median']:.1f} ms "
            f"(min {report['incremental_ms_min']:.1f}, max {report['incremental_ms_max']:.1f}; "
            f"content hash {report['hash_ms_median']:.1f}); re-solved median "
            f"{report['reached_median']:,}, max {report['reached_max']:,} members\n"
            f"the most influential voter: {report['hub_ms']:.1f} ms, re-solved "
            f"{report['hub_reached']:,} members\n"
            f"a first ballot (resolved in full, text edited): {report['first_cast_ms']:.1f} ms\n"
            f"full: engine {report['full_ms']:.1f} ms + content hash "
            f"{report['full_hash_ms']:.1f} ms; identical {report['identical']}\n"
        )
    return report


def main(argv: Sequence[str] | None = None, out: Writer | None = None) -> int:
    """Run the benchmark from the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.bench_incremental", description=__doc__.split("\n")[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.members < 1 or args.choices < 1:
        parser.error("--members and --choices must be at least 1")
    report = execute(vars(args), out or sys.stdout)
    return 0 if report["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
