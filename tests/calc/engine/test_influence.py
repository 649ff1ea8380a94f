"""Delegate influence: the engine equals the exact reference, and influences add up.

The invariant: every counted ballot is either a direct voter's own (it counts 1 for that
voter) or a delegated one whose walk ends at direct voters with probabilities summing to 1.
So the exact influences of all direct voters (lobbyists included: their followers' ballots
flow through them, their own does not count) sum to the number of counted ballots; a
lobbyist's own ballot and abstainers add nothing. Each shown value is rounded once, so the
shown values sum to it within half a unit of the 8th place per direct voter.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from unittest.mock import patch

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import calc.engine.influence as influence_module
from calc.engine import (
    DirectBallot,
    Following,
    FrozenDecision,
    Member,
    Role,
    content_hash,
    resolve_ballots,
    tally_star,
)
from crowdvote_verify.reference import reference_influence, round_half_even
from tests.calc.engine.strategies import averaging_layers, calc_settings, decisions


def assert_influence_matches_reference(decision: FrozenDecision) -> None:
    resolved = resolve_ballots(decision)
    result = tally_star(decision, resolved, content_hash=content_hash(decision))
    expected = reference_influence(decision)
    assert result.influence is not None
    got = result.influence.as_dict()
    assert got == {d: round_half_even(v) for d, v in expected.items()}
    entries = result.influence.page(0, len(result.influence))
    for i in entries:
        assert i.influence == Decimal(i.influence_scaled) / 10**8
    # Highest first, equal ones by member id.
    keys = [(-i.influence_scaled, i.member) for i in entries]
    assert keys == sorted(keys)
    counted = result.participation.counted_ballots
    assert sum(expected.values(), start=Fraction(0)) == counted
    assert abs(sum(got.values()) - counted * 10**8) <= len(got) // 2


@calc_settings
@given(decisions())
def test_influence_equals_reference_and_sums_to_counted_ballots(decision) -> None:
    assert_influence_matches_reference(decision)


@calc_settings
@given(decisions(max_members=20, max_choices=2))
def test_influence_equals_reference_on_larger_communities(decision) -> None:
    assert_influence_matches_reference(decision)


@calc_settings
@given(averaging_layers())
def test_influence_rounds_ninth_place_fives_exactly(decision) -> None:
    assert_influence_matches_reference(decision)


@calc_settings
@given(decisions(max_members=16), st.sampled_from([1, 256]), st.booleans())
def test_replaying_the_layered_solve_backwards_equals_reference(
    decision, max_layers: int, collapse: bool
) -> None:
    """Large communities replay the stars' layers backwards (chains collapsed, the rest
    after the layer budget solved at once): force each path on small ones.
    """
    with (
        patch("calc.engine.delegation.COLLAPSE_LINKS_FROM", 0 if collapse else 4096),
        patch("calc.engine.averaging.ONE_LU_LIMIT", 0),
        patch("calc.engine.averaging.MAX_LAYERS", max_layers),
    ):
        assert_influence_matches_reference(decision)


@calc_settings
@given(averaging_layers(), st.sampled_from([1, 256]), st.booleans())
def test_replayed_layers_round_ninth_place_fives_exactly(
    decision, max_layers: int, collapse: bool
) -> None:
    with (
        patch("calc.engine.delegation.COLLAPSE_LINKS_FROM", 0 if collapse else 4096),
        patch("calc.engine.averaging.ONE_LU_LIMIT", 0),
        patch("calc.engine.averaging.MAX_LAYERS", max_layers),
    ):
        assert_influence_matches_reference(decision)


@calc_settings
@given(decisions(max_members=16))
def test_collapsed_chains_solved_at_once_equal_reference(decision) -> None:
    with patch("calc.engine.delegation.COLLAPSE_LINKS_FROM", 0):
        assert_influence_matches_reference(decision)


def _doubting(solve, dtypes=(np.float64,)):
    """Wrap the transposed solve so that every rounding from ``dtypes`` is doubtful."""

    def wrapped(system, c, dtype, *args):
        y, err = solve(system, c, dtype, *args)
        if dtype in dtypes:
            err = np.full_like(err, np.inf)
        return y, err

    return wrapped


@calc_settings
@given(decisions(max_members=16), st.booleans())
def test_extended_precision_pass_over_the_upstream_members_equals_reference(
    decision, layered: bool
) -> None:
    """When float64 cannot decide, the upstream members are solved again in long double."""
    solve = influence_module._solve_transposed
    with (
        patch.object(influence_module, "_solve_transposed", _doubting(solve)),
        patch("calc.engine.delegation.COLLAPSE_LINKS_FROM", 0 if layered else 4096),
        patch("calc.engine.averaging.ONE_LU_LIMIT", 0 if layered else 4096),
    ):
        assert_influence_matches_reference(decision)


@calc_settings
@given(decisions(max_members=16), st.booleans())
def test_exact_step_on_the_transposed_system_equals_reference(decision, layered: bool) -> None:
    """Every influence decided by exact fractions (as exact ties are)."""
    solve = influence_module._solve_transposed
    doubting = _doubting(solve, (np.float64, np.longdouble))
    with (
        patch.object(influence_module, "_solve_transposed", doubting),
        patch("calc.engine.delegation.COLLAPSE_LINKS_FROM", 0 if layered else 4096),
        patch("calc.engine.averaging.ONE_LU_LIMIT", 0 if layered else 4096),
    ):
        assert_influence_matches_reference(decision)


def test_two_links_to_one_root_carry_twice_in_every_pass() -> None:
    """w follows l1 and l2, both links to r: collapsed, w follows r twice."""
    decision = FrozenDecision(
        ("x",),
        tuple(Member(m) for m in ("d0", "d1", "r", "l1", "l2", "w")),
        (
            Following("r", "d0"),
            Following("r", "d1"),
            Following("l1", "r"),
            Following("l2", "r"),
            Following("w", "l1"),
            Following("w", "l2"),
            Following("w", "d1"),
        ),
        (DirectBallot.of("d0", {"x": 5}), DirectBallot.of("d1", {"x": 0})),
    )
    solve = influence_module._solve_transposed
    for dtypes in ((), (np.float64,), (np.float64, np.longdouble)):
        with (
            patch.object(influence_module, "_solve_transposed", _doubting(solve, dtypes)),
            patch("calc.engine.delegation.COLLAPSE_LINKS_FROM", 0),
            patch("calc.engine.averaging.ONE_LU_LIMIT", 0),
        ):
            assert_influence_matches_reference(decision)
            # d0: its own ballot, 1/2 each from r, l1 and l2, and 2/3 · 1/2 from w.
            assert _influence(decision)["d0"] == "2.83333333"


def _influence(decision: FrozenDecision) -> dict[str, str]:
    result = tally_star(decision, resolve_ballots(decision), content_hash="0" * 64)
    assert result.influence is not None
    return {i.member: format(i.influence, "f") for i in result.influence.page(0, 100)}


def test_a_lobbyist_has_influence_through_followers_only() -> None:
    decision = FrozenDecision(
        ("x",),
        (Member("eve", Role.LOBBYIST), Member("ann"), Member("ben"), Member("cat")),
        (Following("ben", "eve"), Following("ben", "ann"), Following("cat", "eve")),
        (DirectBallot.of("eve", {"x": 5}), DirectBallot.of("ann", {"x": 1})),
    )
    assert _influence(decision) == {"eve": "1.50000000", "ann": "1.50000000"}


def test_a_cycle_with_exits_splits_by_walk_probabilities() -> None:
    """Example 2 of the rules: A's walk ends at Xia with 2/3, B's with 1/3."""
    decision = FrozenDecision(
        ("x",),
        tuple(Member(m) for m in ("a", "b", "xia", "yan")),
        (Following("a", "b"), Following("a", "xia"), Following("b", "a"), Following("b", "yan")),
        (DirectBallot.of("xia", {"x": 5}), DirectBallot.of("yan", {"x": 1})),
    )
    assert _influence(decision) == {"xia": "2.00000000", "yan": "2.00000000"}


def test_nine_halvings_round_half_to_even() -> None:
    """m9's ballot reaches d0 through nine halvings: 1/512 = 0.001953125 → 0.00195312."""
    members = [Member("d0"), Member("d1")] + [Member(f"m{i}", Role.LOBBYIST) for i in range(1, 9)]
    followings = [Following("m1", "d0"), Following("m1", "d1")]
    for i in range(2, 10):
        followings += [Following(f"m{i}", f"m{i - 1}"), Following(f"m{i}", "d1")]
    members.append(Member("m9"))
    decision = FrozenDecision(
        ("x",),
        tuple(members),
        tuple(followings),
        (DirectBallot.of("d0", {"x": 5}), DirectBallot.of("d1", {"x": 0})),
    )
    assert _influence(decision) == {"d1": "1.99804688", "d0": "1.00195312"}


def test_influences_of_a_generated_community_add_up_to_the_counted_ballots() -> None:
    """10,000 members: chains collapsed and components reused, as in production."""
    from devtools.bench import generate

    decision = generate(10_000)
    resolved = resolve_ballots(decision)
    direct = resolved.influence[resolved.is_direct]
    counted = int(resolved.counted.sum())
    assert abs(int(direct.sum()) - counted * 10**8) <= direct.size // 2
    assert (resolved.influence[~resolved.is_direct] == 0).all()
    assert (direct[resolved.is_voter[resolved.is_direct]] >= 10**8).all()


def test_a_long_ring_where_sweeps_do_not_settle_is_solved_by_the_lu() -> None:
    """300 members in a ring, each also following the next but one; one exit to a voter."""
    ring = [f"r{i:03d}" for i in range(300)]
    followings = [Following(a, b) for a, b in zip(ring, ring[1:] + ring[:1], strict=True)]
    followings += [Following(a, b) for a, b in zip(ring, ring[2:] + ring[:2], strict=True)]
    followings.append(Following(ring[0], "voter"))
    decision = FrozenDecision(
        ("x",),
        (Member("voter"), Member("lobbyist", Role.LOBBYIST), *(Member(m) for m in ring)),
        tuple(followings),
        (DirectBallot.of("voter", {"x": 3}), DirectBallot.of("lobbyist", {"x": 1})),
    )
    solver = influence_module._Solver
    used_lu = []

    class Watched(solver):
        def __call__(self, rhs, *, lu=False):
            out = super().__call__(rhs, lu=lu)
            used_lu.append(self.lu is not None)
            return out

    with patch.object(influence_module, "_Solver", Watched):
        assert _influence(decision) == {"voter": "301.00000000", "lobbyist": "0.00000000"}
    assert any(used_lu)
