"""Golden cases in tests/calc/cases/*.json: input in the JSON form plus the expected result.

Only the keys present under ``expected`` are checked, so each case states what it is about.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calc.engine import content_hash, decision_from_json, resolve_ballots, tally_star
from calc.result_json import result_to_json
from crowdvote_verify.reference import (
    reference_influence,
    reference_resolve,
    reference_tally,
    round_half_even,
)

CASES = sorted((Path(__file__).parent.parent / "cases").glob("*.json"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_case_gives_the_expected_result(path: Path) -> None:
    case = _load(path)
    decision = decision_from_json(case["input"])
    digest = case.get("contentHash") or content_hash(decision)
    resolved = resolve_ballots(decision)
    result = tally_star(
        decision, resolved, content_hash=digest, choice_titles=case.get("choiceTitles")
    )
    got = result_to_json(result)
    expected = case["expected"]
    for member, want in expected.get("ballots", {}).items():
        ballot = resolved.ballot(member)
        if want is None:
            assert ballot is None, member
            continue
        assert ballot is not None, member
        if "stars" in want:
            assert {c: format(v, "f") for c, v in ballot.stars} == {
                **dict.fromkeys(resolved.choice_ids, "0.00000000"),
                **want["stars"],
            }, member
        if "tags" in want:
            assert list(ballot.tags) == want["tags"], member
        if "isDelegated" in want:
            assert ballot.is_delegated == want["isDelegated"], member
    scores = {s["choice"]: s for s in got["scores"]}
    for choice, want in expected.get("scores", {}).items():
        for key, value in want.items():
            assert scores[choice][key] == value, (choice, key)
    keys = ("finalists", "runoff", "winner", "tiedChoices", "tiebreaks", "participation")
    for key in (*keys, "influence"):
        if key in expected:
            assert got[key] == expected[key], key


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_case_agrees_with_the_reference(path: Path) -> None:
    case = _load(path)
    decision = decision_from_json(case["input"])
    digest = case.get("contentHash") or content_hash(decision)
    titles = case.get("choiceTitles")
    result = tally_star(
        decision, resolve_ballots(decision), content_hash=digest, choice_titles=titles
    )
    ref = reference_tally(decision, reference_resolve(decision), digest, titles)
    assert (result.winner, result.finalists, result.tied_choices, result.tiebreaks) == (
        ref.winner,
        ref.finalists,
        ref.tied,
        ref.tiebreaks,
    )
    assert result.influence is not None
    assert result.influence.as_dict() == {
        d: round_half_even(v) for d, v in reference_influence(decision).items()
    }


def test_every_tiebreak_kind_has_a_golden_case() -> None:
    names = {p.stem for p in CASES}
    for kind in (
        "tie_two_share_first_both_advance",
        "tie_three_share_first_five_star",
        "tie_second_place_head_to_head",
        "tie_runoff_broken_by_score",
        "tie_runoff_broken_by_five_star",
        "tie_runoff_lot_draw",
        "tie_runoff_unresolved_policy",
        "tie_draw_not_needed",
    ):
        assert kind in names


def test_only_one_rated_choice_still_gives_two_finalists() -> None:
    case = _load(Path(__file__).parent.parent / "cases" / "star_only_one_choice_rated.json")
    decision = decision_from_json(case["input"])
    result = tally_star(decision, resolve_ballots(decision), content_hash=content_hash(decision))
    assert len(result.finalists) == 2
    assert result.finalists[0] == "a"
    assert result.runoff is not None
