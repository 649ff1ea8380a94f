"""Incremental recalculation equals a full one, byte for byte, after every change.

A model of the input (plain dicts) takes the same random changes as the incremental state;
after each step the full ``resolve_ballots`` + ``tally_star`` of the model's decision must
give the same resolved ballots (every array, influence included), the same result (its
stored JSON) and the same content hash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import calc.engine.canonical as canonical
import calc.engine.incremental as incremental
from calc.engine import (
    DirectBallot,
    EngineInputError,
    Following,
    FrozenDecision,
    Member,
    ResolvedBallots,
    Role,
    StarResult,
    content_hash,
    decision_columns,
    resolve_ballots,
    tally_star,
)
from calc.engine.incremental import (
    BallotCast,
    BallotRetracted,
    Change,
    FollowingRemoved,
    FollowingSet,
    IncrementalState,
    MemberJoined,
    MemberLeft,
    RoleChanged,
    apply_changes,
    build_state,
)
from calc.result_json import ballots_to_json, result_to_json
from crowdvote_verify.reference import _reach as reference_reach
from crowdvote_verify.reference import _solve as reference_solve
from devtools.bench import generate
from tests.calc.engine.strategies import (
    TAG_POOL,
    averaging_layers,
    calc_settings,
    decisions,
)

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


@dataclass
class Model:
    """The input as plain dicts, changed the obvious way."""

    choices: tuple[str, ...]
    policy: object
    members: dict[str, Role]
    followings: dict[tuple[str, str], Following] = field(default_factory=dict)
    ballots: dict[str, DirectBallot] = field(default_factory=dict)

    @classmethod
    def of(cls, d: FrozenDecision) -> Model:
        return cls(
            d.choices,
            d.tie_break_policy,
            {m.id: m.role for m in d.members},
            {(f.follower, f.followee): f for f in d.followings},
            {b.member: b for b in d.ballots},
        )

    def decision(self) -> FrozenDecision:
        return FrozenDecision(
            self.choices,
            tuple(Member(i, r) for i, r in self.members.items()),
            tuple(self.followings.values()),
            tuple(self.ballots.values()),
            self.policy,  # type: ignore[arg-type]
        )

    def apply(self, change: Change) -> None:
        if isinstance(change, BallotCast):
            self.ballots[change.ballot.member] = change.ballot
        elif isinstance(change, BallotRetracted):
            del self.ballots[change.member]
        elif isinstance(change, FollowingSet):
            f = change.following
            self.followings[(f.follower, f.followee)] = f
        elif isinstance(change, FollowingRemoved):
            del self.followings[(change.follower, change.followee)]
        elif isinstance(change, MemberJoined):
            self.members[change.member.id] = change.member.role
        elif isinstance(change, MemberLeft):
            gone = change.member
            del self.members[gone]
            self.ballots.pop(gone, None)
            self.followings = {k: f for k, f in self.followings.items() if gone not in k}
        elif isinstance(change, RoleChanged):
            self.members[change.member] = change.role


def assert_same_as_full(resolved: ResolvedBallots, result: StarResult, model: Model) -> None:
    decision = model.decision()
    digest = content_hash(decision)
    full = resolve_ballots(decision)
    expected = tally_star(decision, full, content_hash=digest)
    assert result.content_hash == digest
    assert resolved.member_ids == full.member_ids
    assert resolved.choice_ids == full.choice_ids
    assert resolved.tag_names == full.tag_names
    for name in _ARRAYS:
        got, want = getattr(resolved, name), getattr(full, name)
        assert got.dtype == want.dtype, name
        assert np.array_equal(got, want), name
    assert ballots_to_json(resolved) == ballots_to_json(full)
    got_json = json.dumps(result_to_json(result), sort_keys=True)
    assert got_json == json.dumps(result_to_json(expected), sort_keys=True)


def assert_solution_holds(state: IncrementalState, model: Model) -> None:
    """The kept system is a fresh build's, and every float star is within its bound of the
    exact value (the reference's fractions).
    """
    sol, fresh = state.solution, build_state(model.decision()).solution
    if sol is None or fresh is None:
        assert sol is fresh
        return
    for name in ("delegated", "k", "rhs", "indptr", "indices"):
        assert np.array_equal(getattr(sol, name), getattr(fresh, name)), name
    decision = model.decision()
    direct, _, follows = reference_reach(decision)
    choices = sorted(decision.choices)
    exact = reference_solve(choices, {d: dict(b.stars) for d, b in direct.items()}, follows)
    ids = state.resolved.member_ids
    for at, row in enumerate(sol.delegated.tolist()):
        for j, c in enumerate(choices):
            gap = abs(Fraction(float(sol.x[at, j])) - exact[ids[row]][c])
            assert gap <= Fraction(float(sol.err[at])), (ids[row], c)


@st.composite
def stars_of(draw: st.DrawFn, choices: tuple[str, ...]) -> dict[str, int]:
    rated = draw(st.lists(st.sampled_from(choices), unique=True, max_size=len(choices)))
    return {c: draw(st.sampled_from([0, 1, 2, 3, 4, 5, 5])) for c in rated}


tag_sets = st.frozensets(st.sampled_from(TAG_POOL), max_size=2)


def a_change(data: st.DataObject, model: Model, serial: int) -> Change:
    """Draw one valid change for the model's current input; star-only recasts are common."""
    ids = sorted(model.members)
    voters = sorted(model.ballots)
    kinds = ["cast", "recast", "recast", "follow", "join", "role"]
    if voters:
        kinds += ["retract", "follow_direct"]
    if model.followings:
        kinds += ["unfollow"]
    if len(ids) > 1:
        kinds += ["leave"]
    kind = data.draw(st.sampled_from(kinds))
    if kind == "recast" and voters:
        old = model.ballots[data.draw(st.sampled_from(voters))]
        return BallotCast(DirectBallot.of(old.member, data.draw(stars_of(model.choices)), old.tags))
    if kind in ("cast", "recast"):
        who = data.draw(st.sampled_from(ids))
        return BallotCast(
            DirectBallot.of(who, data.draw(stars_of(model.choices)), data.draw(tag_sets))
        )
    if kind == "retract":
        return BallotRetracted(data.draw(st.sampled_from(voters)))
    if kind in ("follow", "follow_direct") and len(ids) > 1:
        follower = data.draw(st.sampled_from(voters if kind == "follow_direct" else ids))
        followee = data.draw(st.sampled_from([i for i in ids if i != follower]))
        tags = data.draw(st.one_of(st.just(frozenset()), tag_sets))
        return FollowingSet(Following(follower, followee, tags, data.draw(st.integers(1, 3))))
    if kind == "unfollow":
        follower, followee = data.draw(st.sampled_from(sorted(model.followings)))
        return FollowingRemoved(follower, followee)
    if kind == "leave":
        return MemberLeft(data.draw(st.sampled_from(ids)))
    if kind == "role":
        return RoleChanged(data.draw(st.sampled_from(ids)), data.draw(st.sampled_from(list(Role))))
    role = data.draw(st.sampled_from([Role.VOTER, Role.VOTER, Role.LOBBYIST]))
    # Between the ids already there, so that every later row moves.
    return MemberJoined(Member(f"m{data.draw(st.integers(0, 24)):02d}j{serial:03d}", role))


@calc_settings
@given(decisions(tie_prone=False) | decisions(tie_prone=True), st.data())
def test_random_changes_give_the_full_recalculation(decision, data) -> None:
    model = Model.of(decision)
    # Chunks of the canonical text as small as 1 to 3 items: a change rehashes from its own.
    chunk = patch.object(canonical, "CHUNK", data.draw(st.integers(1, 3)))
    chunk.start()
    try:
        check_random_changes(decision, model, data)
    finally:
        chunk.stop()


def check_random_changes(decision: FrozenDecision, model: Model, data: st.DataObject) -> None:
    state = build_state(decision)
    assert_same_as_full(state.resolved, state.result, model)
    serial = 0
    for _ in range(data.draw(st.integers(1, 12))):
        batch: list[Change] = []
        for _ in range(data.draw(st.sampled_from([1, 1, 1, 2, 3]))):
            serial += 1
            change = a_change(data, model, serial)
            model.apply(change)
            batch.append(change)
        state, resolved, result = apply_changes(state, batch)
        assert_same_as_full(resolved, result, model)
        assert_solution_holds(state, model)


@calc_settings
@given(decisions(), st.data())
def test_star_changes_decided_exactly_everywhere_give_the_full_recalculation(
    decision, data
) -> None:
    """Every updated value treated as doubtful: the exact step over the kept system decides."""
    model = Model.of(decision)
    state = build_state(decision)
    with patch.object(incremental, "_SCALING_SLACK", 1.0):
        for _ in range(data.draw(st.integers(1, 8))):
            voters = sorted(model.ballots)
            if not voters:
                return
            old = model.ballots[data.draw(st.sampled_from(voters))]
            stars = data.draw(stars_of(model.choices))
            change = BallotCast(DirectBallot.of(old.member, stars, old.tags))
            model.apply(change)
            state, resolved, result = apply_changes(state, [change])
            assert_same_as_full(resolved, result, model)


@calc_settings
@given(averaging_layers(), st.data())
def test_star_changes_in_layers_of_averages_round_exactly(decision, data) -> None:
    """Values ending in 5 at the 9th place: the incremental path needs the exact step too."""
    model = Model.of(decision)
    state = build_state(decision)
    for _ in range(data.draw(st.integers(1, 6))):
        old = model.ballots[data.draw(st.sampled_from(sorted(model.ballots)))]
        change = BallotCast(DirectBallot.of(old.member, data.draw(stars_of(decision.choices))))
        model.apply(change)
        state, resolved, result = apply_changes(state, [change])
        assert state.last_mode in ("stars", "input")
        assert_same_as_full(resolved, result, model)
        assert_solution_holds(state, model)


@pytest.mark.parametrize("members", [10_000])
def test_star_changes_in_a_large_community_match_the_full_solve(members: int) -> None:
    """Above 4,096 delegated members: links collapsed, a layered solve, cycles."""
    decision = generate(members, 4, seed=3)
    model = Model.of(decision)
    state = build_state(decision_columns(decision))
    rng = np.random.default_rng(7)
    voters = sorted(model.ballots)
    for step in range(6):
        old = model.ballots[voters[int(rng.integers(len(voters)))]]
        stars = {c: int(rng.integers(0, 6)) for c in decision.choices}
        change = BallotCast(DirectBallot.of(old.member, stars, old.tags))
        model.apply(change)
        state, resolved, result = apply_changes(state, [change])
        assert state.last_mode == "stars", step
        assert_same_as_full(resolved, result, model)
    assert state.last_solved < members // 4


def _small() -> tuple[FrozenDecision, IncrementalState]:
    decision = FrozenDecision(
        ("x", "y"),
        (Member("a"), Member("b"), Member("c"), Member("l", Role.LOBBYIST)),
        (Following("b", "a"), Following("c", "b"), Following("c", "l"), Following("a", "l")),
        (DirectBallot.of("a", {"x": 5}), DirectBallot.of("l", {"y": 4})),
    )
    return decision, build_state(decision)


def test_a_following_out_of_a_direct_voter_changes_only_the_input() -> None:
    decision, state = _small()
    model = Model.of(decision)
    change = FollowingSet(Following("a", "c", frozenset({"budget"})))
    model.apply(change)
    new, resolved, result = apply_changes(state, [change])
    assert new.last_mode == "input"
    assert result.content_hash != state.content_hash
    assert_same_as_full(resolved, result, model)


def test_a_recast_with_new_tags_is_resolved_in_full() -> None:
    decision, state = _small()
    model = Model.of(decision)
    change = BallotCast(DirectBallot.of("a", {"y": 2}, {"parks"}))
    model.apply(change)
    new, resolved, result = apply_changes(state, [change])
    assert new.last_mode == "full"
    assert_same_as_full(resolved, result, model)


@pytest.mark.parametrize(
    "change",
    [
        BallotCast(DirectBallot.of("zz", {"x": 1})),
        BallotCast(DirectBallot.of("a", {"w": 1})),
        BallotCast(DirectBallot.of("a", {"x": 6})),
        BallotRetracted("b"),
        FollowingSet(Following("a", "a")),
        FollowingRemoved("a", "b"),
        MemberJoined(Member("a")),
        MemberLeft("zz"),
        RoleChanged("a", "BOSS"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_change_is_refused_and_the_state_stays_usable(change: Change) -> None:
    decision, state = _small()
    before = state.result
    with pytest.raises(EngineInputError):
        apply_changes(state, [BallotCast(DirectBallot.of("a", {"x": 1})), change])
    assert state.result is before
    model = Model.of(decision)
    fine = BallotCast(DirectBallot.of("a", {"x": 2}))
    model.apply(fine)
    new, resolved, result = apply_changes(state, [fine])
    assert new.last_mode == "stars"
    assert_same_as_full(resolved, result, model)
    with pytest.raises(EngineInputError, match="already used"):
        apply_changes(state, [fine])


def _undecided(*, rows: np.ndarray, **_: object) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(rows.size, dtype=np.int64), np.zeros(rows.size, dtype=np.bool_)


def test_an_exact_step_past_its_budget_falls_back_to_a_full_resolve() -> None:
    decision, state = _small()
    model = Model.of(decision)
    change = BallotCast(DirectBallot.of("a", {"x": 3}))
    model.apply(change)
    with (
        patch.object(incremental, "_SCALING_SLACK", 1.0),
        patch.object(incremental, "solve_exact", side_effect=_undecided),
    ):
        new, resolved, result = apply_changes(state, [change])
    assert new.last_mode == "full"
    assert_same_as_full(resolved, result, model)


def test_error_bounds_past_the_limit_start_afresh_with_a_full_resolve() -> None:
    decision, state = _small()
    model = Model.of(decision)
    for stars, mode in ((1, "stars"), (2, "full"), (4, "stars")):
        change = BallotCast(DirectBallot.of("a", {"x": stars}))
        model.apply(change)
        with patch.object(incremental, "MAX_CARRIED_ERROR", 1e-300 if stars == 2 else 1e-10):
            state, resolved, result = apply_changes(state, [change])
        assert state.last_mode == mode
        assert_same_as_full(resolved, result, model)


def test_a_newcomer_moves_rows_but_resolves_nothing() -> None:
    decision, state = _small()
    model = Model.of(decision)
    batch: list[Change] = [
        MemberJoined(Member("aa")),
        BallotCast(DirectBallot.of("a", {"y": 1})),
        MemberJoined(Member("0", Role.LOBBYIST)),
    ]
    for change in batch:
        model.apply(change)
    new, resolved, result = apply_changes(state, batch)
    assert new.last_mode == "stars"
    assert result.participation.members == 6
    assert_same_as_full(resolved, result, model)


@pytest.mark.parametrize(
    ("member", "role", "mode"),
    [
        ("a", Role.LOBBYIST, "input"),  # a direct voter: one tally row, one unit of influence
        ("l", Role.VOTER, "input"),  # a lobbyist's ballot now counted
        ("b", Role.LOBBYIST, "full"),  # a delegated ballot: influences downstream change
    ],
)
def test_a_role_change_resolves_in_full_only_for_a_delegated_ballot(
    member: str, role: Role, mode: str
) -> None:
    decision, state = _small()
    model = Model.of(decision)
    change = RoleChanged(member, role)
    model.apply(change)
    new, resolved, result = apply_changes(state, [change])
    assert new.last_mode == mode
    assert_same_as_full(resolved, result, model)


@pytest.mark.parametrize(
    ("batch", "mode"),
    [
        # Nobody follows them and they held no ballot: only their own ballot is new.
        ([MemberJoined(Member("n")), BallotCast(DirectBallot.of("n", {"x": 3}))], "input"),
        (
            [
                MemberJoined(Member("n", Role.LOBBYIST)),
                BallotCast(DirectBallot.of("n", {"y": 5})),
                BallotCast(DirectBallot.of("n", {"y": 4})),  # cast again in the same batch
                BallotCast(DirectBallot.of("a", {"x": 1})),  # and another voter's stars
            ],
            "stars",
        ),
        # Each of these reaches someone else, or renumbers tag bits: resolved in full.
        ([BallotCast(DirectBallot.of("c", {"x": 2}))], "full"),  # c held a delegated ballot
        ([BallotCast(DirectBallot.of("b", {"x": 2}))], "full"),  # c follows b
        (
            [MemberJoined(Member("n")), BallotCast(DirectBallot.of("n", {"x": 3}, {"parks"}))],
            "full",  # a tag no ballot had
        ),
        (
            [
                MemberJoined(Member("n")),
                BallotCast(DirectBallot.of("n", {"x": 3})),
                FollowingSet(Following("a", "n")),  # a follows n: ignored, a votes directly
                FollowingSet(Following("b", "n")),  # b follows n: b's ballot changes
            ],
            "full",
        ),
    ],
)
def test_a_first_ballot_nobody_follows_is_added_without_a_resolve(
    batch: list[Change], mode: str
) -> None:
    decision, state = _small()
    model = Model.of(decision)
    for change in batch:
        model.apply(change)
    new, resolved, result = apply_changes(state, batch)
    assert new.last_mode == mode
    assert_same_as_full(resolved, result, model)
    assert_solution_holds(new, model)
