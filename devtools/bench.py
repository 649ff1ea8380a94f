"""Benchmark the engine on a synthetic community (``python -m devtools.bench``, no Django needed).

The community is reproducible from ``(members, choices, seed)``:

- 10% of members are lobbyists; 20% (any role) vote directly, with 1-2 tags from a pool of 8
  and 0-5 stars per choice around a per-choice mean (a tenth of ratings left out);
- every other member follows 1-4 others chosen by preferential attachment: a Zipf-like
  popularity over a random ranking, tripled for direct voters, so a few delegates gather
  many followers and some followings form cycles;
- 30% of followings are on every topic, the rest on 1-2 tags; ``order`` is 1, 2, ...

Timed: ``resolve_ballots`` (validation included) and ``tally_star`` on the engine's input,
``DecisionColumns``, as the worker builds it straight from SQL rows. Not timed: building the
input, the content hash, JSON; turning the generated objects into columns is reported
apart as ``columns_ms``. With ``--compare-reference`` the exact reference in
``crowdvote_verify.reference`` runs on the same community, in its own input form (the
objects), in the same process (keep it to ~2,000 members).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict

import numpy as np

from calc.engine import (
    Decision,
    DecisionColumns,
    DirectBallot,
    Following,
    FrozenDecision,
    Member,
    Role,
    content_hash,
    decision_columns,
    decision_from_columns,
    resolve_ballots,
    tally_star,
)
from calc.engine.jsonio import columns_from_json
from calc.result_json import ballots_to_json, result_to_json

if TYPE_CHECKING:
    from collections.abc import Sequence

TAG_POOL = ("budget", "culture", "health", "housing", "parks", "roads", "schools", "transit")


class Writer(Protocol):
    """Anything with ``write(text)``: a text stream or Django's ``OutputWrapper``."""

    def write(self, text: str, /) -> object: ...


class Report(TypedDict, total=False):
    members: int
    followings: int
    choices: int
    direct_ballots: int
    delegated_ballots: int
    abstentions: int
    counted_ballots: int
    winner: str | None
    columns_ms: float
    resolve_ms: float
    tally_ms: float
    total_ms: float
    hash_ms: float
    peak_rss_mb: float
    repeat: int
    reference_ms: float
    speedup: float
    reference_agrees: bool


@dataclass(frozen=True, slots=True)
class Options:
    """Parsed command line of the benchmark (shared with the ``bench_calc`` command)."""

    members: int = 10_000
    choices: int = 10
    seed: int = 0
    compare_reference: bool = False
    as_json: bool = False
    input: str | None = None
    output: str | None = None
    repeat: int = 1


def generate(members: int, choices: int = 10, seed: int = 0) -> FrozenDecision:
    """Return the synthetic community decision described in the module docstring."""
    if members < 1 or choices < 1:
        raise ValueError("members and choices must be at least 1")
    rng = np.random.default_rng(seed)
    width = len(str(members - 1))
    ids = [f"m{i:0{width}d}" for i in range(members)]
    choice_ids = tuple(f"c{j:02d}" for j in range(choices))
    lobbyist = rng.random(members) < 0.10
    direct = rng.random(members) < 0.20
    member_list = tuple(
        Member(ids[i], Role.LOBBYIST if lobbyist[i] else Role.VOTER) for i in range(members)
    )

    voters = np.flatnonzero(direct)
    means = rng.uniform(1.0, 4.0, size=choices)
    stars = np.clip(np.rint(rng.normal(means, 1.6, size=(voters.size, choices))), 0, 5)
    rated = rng.random((voters.size, choices)) >= 0.10
    n_tags = rng.integers(1, 3, size=voters.size)
    tag_pick = rng.permuted(np.tile(np.arange(len(TAG_POOL)), (voters.size, 1)), axis=1)
    ballots = tuple(
        DirectBallot(
            ids[v],
            tuple(
                (choice_ids[j], int(s))
                for j, (s, r) in enumerate(zip(stars[k].tolist(), rated[k].tolist(), strict=True))
                if r
            ),
            frozenset(TAG_POOL[t] for t in tag_pick[k, : n_tags[k]].tolist()),
        )
        for k, v in enumerate(voters.tolist())
    )

    followers = np.flatnonzero(~direct)
    counts = rng.integers(1, 5, size=followers.size)
    popularity = 1.0 / (1.0 + rng.permutation(members)) ** 0.8
    popularity[direct] *= 3.0
    popularity /= popularity.sum()
    src = np.repeat(followers, counts)
    dst = rng.choice(members, size=src.size, p=popularity)
    ok = src != dst
    src, dst = src[ok], dst[ok]
    _, first = np.unique(src * members + dst, return_index=True)
    first.sort()
    src, dst = src[first], dst[first]
    starts = np.r_[0, np.flatnonzero(src[1:] != src[:-1]) + 1]
    order = np.arange(src.size) - np.repeat(starts, np.diff(np.r_[starts, src.size])) + 1
    everything = rng.random(src.size) < 0.30
    n_follow_tags = rng.integers(1, 3, size=src.size)
    tag_a = rng.integers(0, len(TAG_POOL), size=src.size)
    tag_b = (tag_a + rng.integers(1, len(TAG_POOL), size=src.size)) % len(TAG_POOL)
    all_topics: frozenset[str] = frozenset()
    singles = [frozenset({t}) for t in TAG_POOL]
    pairs = {(a, b): frozenset({TAG_POOL[a], TAG_POOL[b]}) for a in range(8) for b in range(8)}
    followings = tuple(
        Following(
            ids[s],
            ids[d],
            all_topics if e else (singles[a] if k == 1 else pairs[(a, b)]),
            o,
        )
        for s, d, e, k, a, b, o in zip(
            src.tolist(),
            dst.tolist(),
            everything.tolist(),
            n_follow_tags.tolist(),
            tag_a.tolist(),
            tag_b.tolist(),
            order.tolist(),
            strict=True,
        )
    )
    return FrozenDecision(choice_ids, member_list, followings, ballots)


def peak_rss_mb() -> float:
    """Return the peak resident set size of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(
    decision: Decision,
    *,
    compare_reference: bool = False,
    output: str | None = None,
    repeat: int = 1,
) -> Report:
    """Time resolve and tally on ``decision``; optionally time the reference and write results.

    Engine times are the fastest of ``repeat`` runs, after a warm-up on a tiny community so
    that lazy imports are not counted; the reference runs once.
    """
    start = time.perf_counter()
    if isinstance(decision, DecisionColumns):
        columns, objects = decision, None
    else:
        columns, objects = decision_columns(decision), decision
    columns_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    digest = content_hash(columns)
    hash_ms = (time.perf_counter() - start) * 1000
    warm = decision_columns(generate(50, 2, seed=1))
    tally_star(warm, resolve_ballots(warm), content_hash="warm-up")  # import and cache lazily
    resolve_s = tally_s = float("inf")
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        resolved = resolve_ballots(columns)
        mid = time.perf_counter()
        result = tally_star(columns, resolved, content_hash=digest)
        end = time.perf_counter()
        resolve_s, tally_s = min(resolve_s, mid - start), min(tally_s, end - mid)
    p = result.participation
    report: Report = {
        "members": p.members,
        "followings": int(columns.follow_src.size),
        "choices": len(decision.choices),
        "direct_ballots": p.direct_ballots,
        "delegated_ballots": p.delegated_ballots,
        "abstentions": p.abstentions,
        "counted_ballots": p.counted_ballots,
        "winner": result.winner,
        "resolve_ms": round(resolve_s * 1000, 3),
        "tally_ms": round(tally_s * 1000, 3),
        "total_ms": round((resolve_s + tally_s) * 1000, 3),
        "repeat": max(1, repeat),
        "columns_ms": round(columns_ms, 3),
        "hash_ms": round(hash_ms, 3),
    }
    if compare_reference:
        from crowdvote_verify.reference import reference_resolve, reference_tally

        objects = objects or decision_from_columns(columns)
        ref_start = time.perf_counter()
        ref_ballots = reference_resolve(objects)
        ref_result = reference_tally(objects, ref_ballots, digest)
        ref_ms = (time.perf_counter() - ref_start) * 1000
        report["reference_ms"] = round(ref_ms, 3)
        report["speedup"] = round(ref_ms / max(report["total_ms"], 1e-6), 1)
        report["reference_agrees"] = (
            ref_result.winner == result.winner
            and all(
                dict(
                    zip(
                        resolved.choice_ids,
                        resolved.stars[resolved.index_of(m)].tolist(),
                        strict=True,
                    )
                )
                == b.stars
                for m, b in ref_ballots.items()
            )
            and len(ref_ballots) == int(resolved.has_ballot.sum())
        )
    report["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if output:
        doc = {"ballots": ballots_to_json(resolved), "result": result_to_json(result)}
        Path(output).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return report


def execute(options: Options, out: Writer) -> Report:
    """Build or read the decision, run the benchmark and print the report to ``out``."""
    decision: Decision
    if options.input:
        decision = columns_from_json(Path(options.input).read_text(encoding="utf-8"))
    else:
        decision = generate(options.members, options.choices, options.seed)
    report = run(
        decision,
        compare_reference=options.compare_reference,
        output=options.output,
        repeat=options.repeat,
    )
    if options.as_json:
        out.write(json.dumps(report, sort_keys=True) + "\n")
    else:
        out.write(summary(report))
    return report


def summary(report: Report) -> str:
    """Return the report as a few readable lines."""
    lines = [
        f"members {report['members']:,}  followings {report['followings']:,}  "
        f"choices {report['choices']}",
        f"ballots: {report['direct_ballots']:,} direct, {report['delegated_ballots']:,} "
        f"delegated, {report['abstentions']:,} abstain; {report['counted_ballots']:,} counted",
        f"resolve {report['resolve_ms']:.1f} ms  tally {report['tally_ms']:.1f} ms  "
        f"total {report['total_ms']:.1f} ms  peak RSS {report['peak_rss_mb']:.0f} MB",
        f"winner {report['winner']}  (objects to columns {report['columns_ms']:.1f} ms, not timed)",
    ]
    if "reference_ms" in report:
        lines.append(
            f"reference {report['reference_ms']:.1f} ms  speedup {report['speedup']:.0f}x  "
            f"agrees {report['reference_agrees']}"
        )
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the benchmark options on ``parser`` (used by the Django command too)."""
    parser.add_argument("--members", type=int, default=10_000, help="synthetic community size")
    parser.add_argument("--choices", type=int, default=10, help="number of choices")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    parser.add_argument(
        "--compare-reference", action="store_true", help="also time the exact reference"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--input", help="read a decision in the JSON form instead of generating")
    parser.add_argument("--output", help="write every resolved ballot and the tally as JSON")
    parser.add_argument(
        "--repeat", type=int, default=1, help="time the engine this many times, keep the fastest"
    )


def options_from(values: dict[str, object]) -> Options:
    """Return Options from parsed argument values (argparse or Django's ``options``)."""

    def as_int(name: str, default: int) -> int:
        value = values.get(name)
        return default if value is None else int(str(value))

    def as_str(name: str) -> str | None:
        value = values.get(name)
        return None if value is None else str(value)

    return Options(
        members=as_int("members", 10_000),
        choices=as_int("choices", 10),
        seed=as_int("seed", 0),
        compare_reference=bool(values.get("compare_reference")),
        as_json=bool(values.get("json")),
        input=as_str("input"),
        output=as_str("output"),
        repeat=as_int("repeat", 1),
    )


def main(argv: Sequence[str] | None = None, out: Writer | None = None) -> int:
    """Run the benchmark from the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.bench", description=__doc__.split("\n")[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    options = options_from(vars(args))
    if options.members < 1 or options.choices < 1:
        parser.error("--members and --choices must be at least 1")
    execute(options, out or sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
