"""The engine equals the slow exact reference, and no input order changes a byte of output."""

from __future__ import annotations

import json
from unittest.mock import patch

from hypothesis import given
from hypothesis import strategies as st

from calc.engine import (
    content_hash,
    decision_to_json,
    explain_ballot,
    resolve_ballots,
    tally_star,
)
from calc.result_json import ballots_to_json, result_to_json
from crowdvote_verify.reference import reference_resolve, reference_tally
from tests.calc.engine.strategies import averaging_layers, calc_settings, decisions, shuffled


def _draw_steps(tiebreaks: tuple[str, ...]) -> int:
    return sum(1 for t in tiebreaks if "lot (" in t or "a draw is needed" in t)


def assert_matches_reference(decision) -> None:
    resolved = resolve_ballots(decision)
    expected = reference_resolve(decision)
    for i, member in enumerate(resolved.member_ids):
        ballot = resolved.ballot(member)
        if member not in expected:
            assert ballot is None, member
            continue
        ref = expected[member]
        assert ballot is not None, member
        assert ballot.is_delegated == ref.is_delegated, member
        assert set(ballot.tags) == ref.tags, member
        assert dict(zip(resolved.choice_ids, resolved.stars[i].tolist(), strict=True)) == ref.stars
    digest = content_hash(decision)
    result = tally_star(decision, resolved, content_hash=digest)
    ref = reference_tally(decision, expected, digest)
    assert {s.choice: s.total_scaled for s in result.scores} == ref.totals
    assert {s.choice: s.five_star_count for s in result.scores} == ref.fives
    assert result.finalists == ref.finalists
    runoff = result.runoff
    got_runoff = (
        None
        if runoff is None
        else (
            runoff.first,
            runoff.second,
            runoff.prefer_first,
            runoff.prefer_second,
            runoff.no_preference,
        )
    )
    assert got_runoff == ref.runoff
    assert result.winner == ref.winner
    assert result.tied_choices == ref.tied
    assert _draw_steps(result.tiebreaks) == ref.draws
    assert result.tiebreaks == ref.tiebreaks
    assert result.participation.counted_ballots == ref.counted


def _output(decision) -> str:
    resolved = resolve_ballots(decision)
    digest = content_hash(decision)
    result = tally_star(decision, resolved, content_hash=digest)
    explanations = [repr(explain_ballot(decision, resolved, m)) for m in resolved.member_ids]
    return json.dumps(
        [
            decision_to_json(decision),
            ballots_to_json(resolved),
            result_to_json(result),
            explanations,
        ],
        sort_keys=True,
    )


@calc_settings
@given(decisions())
def test_engine_equals_reference_on_random_communities(decision) -> None:
    assert_matches_reference(decision)


@calc_settings
@given(decisions(max_members=8, max_choices=5, tie_prone=True))
def test_engine_equals_reference_when_ties_are_likely(decision) -> None:
    assert_matches_reference(decision)


@calc_settings
@given(decisions(max_members=20, max_choices=3))
def test_engine_equals_reference_on_larger_communities(decision) -> None:
    assert_matches_reference(decision)


@calc_settings
@given(decisions(), st.integers(0, 2**32))
def test_shuffling_the_input_gives_byte_identical_output(decision, seed: int) -> None:
    assert _output(shuffled(decision, seed)) == _output(decision)


@calc_settings
@given(averaging_layers())
def test_engine_rounds_exact_ninth_place_fives_like_the_reference(decision) -> None:
    assert_matches_reference(decision)


@calc_settings
@given(decisions(max_members=16))
def test_layered_solver_for_large_communities_equals_reference(decision) -> None:
    """Large communities are solved component layer by layer; force that path here."""
    with patch("calc.engine.averaging.ONE_LU_LIMIT", 0):
        assert_matches_reference(decision)


@calc_settings
@given(averaging_layers())
def test_layered_solver_rounds_ninth_place_fives_exactly(decision) -> None:
    with patch("calc.engine.averaging.ONE_LU_LIMIT", 0):
        assert_matches_reference(decision)


@calc_settings
@given(decisions(max_members=16))
def test_iterative_solver_for_tangled_cycles_equals_reference(decision) -> None:
    """Large tangles of cycles are solved by BiCGSTAB; force that path on small ones."""
    with (
        patch("calc.engine.averaging.ONE_LU_LIMIT", 0),
        patch("calc.engine.averaging.ITERATIVE_FROM", 2),
    ):
        assert_matches_reference(decision)


@calc_settings
@given(decisions(max_members=16), st.booleans())
def test_deep_shapes_finished_by_tag_search_and_one_system_equal_reference(
    decision, semi_naive: bool
) -> None:
    """Chains deeper than the round and layer budgets: force both fallbacks on small cases."""
    with (
        patch("calc.engine.delegation.MAX_TAG_ROUNDS", 1),
        patch("calc.engine.delegation.SWEEP_TAGS_LIMIT", 0 if semi_naive else 20_000),
        patch("calc.engine.averaging.ONE_LU_LIMIT", 0),
        patch("calc.engine.averaging.MAX_LAYERS", 1),
    ):
        assert_matches_reference(decision)


@calc_settings
@given(averaging_layers())
def test_one_system_after_the_layer_budget_rounds_ninth_place_fives_exactly(decision) -> None:
    with (
        patch("calc.engine.averaging.ONE_LU_LIMIT", 0),
        patch("calc.engine.averaging.MAX_LAYERS", 1),
    ):
        assert_matches_reference(decision)


@calc_settings
@given(decisions(max_members=16), st.sampled_from([0, 4096]))
def test_chains_of_single_delegates_collapsed_before_the_solve_equal_reference(
    decision, one_lu_limit: int
) -> None:
    """Members following one delegated member only take its stars; force that on small ones."""
    with (
        patch("calc.engine.delegation.COLLAPSE_LINKS_FROM", 0),
        patch("calc.engine.averaging.ONE_LU_LIMIT", one_lu_limit),
    ):
        assert_matches_reference(decision)


@calc_settings
@given(averaging_layers())
def test_collapsed_chains_round_ninth_place_fives_exactly(decision) -> None:
    with (
        patch("calc.engine.delegation.COLLAPSE_LINKS_FROM", 0),
        patch("calc.engine.averaging.ONE_LU_LIMIT", 0),
    ):
        assert_matches_reference(decision)
