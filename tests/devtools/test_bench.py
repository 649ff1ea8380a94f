"""The benchmark runs without Django, reproduces its community, and reports every figure."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from calc.engine import Role, content_hash, resolve_ballots
from devtools.bench import generate, main

KEYS = {"members", "followings", "choices", "resolve_ms", "tally_ms", "total_ms", "peak_rss_mb"}
CASE = (
    Path(__file__).parents[1]
    / "calc"
    / "cases"
    / "semantics_example_1_tags_averaging_lobbyist.json"
)


def _run(*argv: str) -> str:
    out = io.StringIO()
    assert main(list(argv), out=out) == 0
    return out.getvalue()


def test_json_report_has_every_figure_and_agrees_with_the_reference() -> None:
    report = json.loads(_run("--members", "300", "--choices", "4", "--json", "--compare-reference"))
    assert KEYS | {"reference_ms", "speedup", "columns_ms"} <= report.keys()
    assert report["columns_ms"] > 0
    assert report["members"] == 300
    assert report["choices"] == 4
    assert report["reference_agrees"] is True
    assert report["total_ms"] >= report["resolve_ms"]


def test_readable_summary_is_the_default() -> None:
    text = _run("--members", "200")
    assert "resolve" in text
    assert "peak RSS" in text
    assert "objects to columns" in text
    assert not text.startswith("{")


def test_input_file_and_output_file(tmp_path: Path) -> None:
    case = json.loads(CASE.read_text(encoding="utf-8"))
    source = tmp_path / "decision.json"
    source.write_text(json.dumps(case["input"]), encoding="utf-8")
    target = tmp_path / "out.json"
    report = json.loads(_run("--input", str(source), "--output", str(target), "--json"))
    assert report["members"] == 6
    assert report["winner"] == "park"
    written = json.loads(target.read_text(encoding="utf-8"))
    ben = next(b for b in written["ballots"] if b["member"] == "ben")
    assert ben == {
        "member": "ben",
        "isDelegated": True,
        "tags": ["budget", "parks"],
        "stars": {"park": "3.50000000", "road": "2.50000000"},
    }
    assert written["result"]["winner"] == "park"


def test_bad_member_count_is_refused() -> None:
    with pytest.raises(SystemExit):
        main(["--members", "0"], out=io.StringIO())


def test_generator_is_reproducible_from_the_seed() -> None:
    assert content_hash(generate(500, 3, seed=4)) == content_hash(generate(500, 3, seed=4))
    assert content_hash(generate(500, 3, seed=4)) != content_hash(generate(500, 3, seed=5))


def test_generator_matches_its_documented_shape() -> None:
    d = generate(20_000, 5, seed=1)
    n = len(d.members)
    lobbyists = sum(m.role is Role.LOBBYIST for m in d.members)
    assert 0.08 * n < lobbyists < 0.12 * n
    assert 0.18 * n < len(d.ballots) < 0.22 * n
    assert all(1 <= len(b.tags) <= 2 for b in d.ballots)
    per_follower = np.bincount(
        np.unique([f.follower for f in d.followings], return_inverse=True)[1]
    )
    assert per_follower.min() >= 1
    assert per_follower.max() <= 4
    every = sum(not f.tags for f in d.followings) / len(d.followings)
    assert 0.27 < every < 0.33
    assert all(len(f.tags) <= 2 for f in d.followings)
    resolved = resolve_ballots(d)
    assert resolved.is_delegated.sum() > len(d.ballots)  # delegation matters
