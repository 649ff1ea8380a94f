"""Delegation resolution follows docs/voting-rules.md: reach, tags, exact stars, abstentions."""

from __future__ import annotations

from decimal import Decimal
from unittest.mock import patch

import numpy as np

from calc.engine import (
    STAR_SCALE,
    DirectBallot,
    Following,
    FrozenDecision,
    Member,
    Role,
    resolve_ballots,
)
from crowdvote_verify.reference import reference_resolve
from devtools.bench import generate

EVERY = frozenset[str]()


def _stars(resolved, member: str) -> dict[str, Decimal]:
    ballot = resolved.ballot(member)
    assert ballot is not None
    return dict(ballot.stars)


def test_chain_of_ten_thousand_delegates_passes_the_ballot_down_unchanged() -> None:
    n = 10_000
    members = (Member("d"), *(Member(f"v{i:05d}") for i in range(n)))
    followings = [Following("v00000", "d")] + [
        Following(f"v{i:05d}", f"v{i - 1:05d}") for i in range(1, n)
    ]
    decision = FrozenDecision(
        ("x", "y"), members, tuple(followings), (DirectBallot.of("d", {"x": 4, "y": 1}, {"t"}),)
    )
    resolved = resolve_ballots(decision)
    assert resolved.has_ballot.all()
    assert (resolved.stars[:, 0] == 4 * STAR_SCALE).all()
    assert resolved.ballot("v09999").tags == ("t",)
    assert resolved.ballot("v09999").is_delegated


def test_long_chain_averaging_with_a_fixed_voter_at_each_step_is_exact() -> None:
    n = 60
    members = [Member("hi"), Member("lo")] + [Member(f"h{i:02d}") for i in range(n)]
    followings = [Following("h00", "hi"), Following("h00", "lo")]
    for i in range(1, n):
        followings += [Following(f"h{i:02d}", f"h{i - 1:02d}"), Following(f"h{i:02d}", "hi")]
    decision = FrozenDecision(
        ("x",),
        tuple(members),
        tuple(followings),
        (DirectBallot.of("hi", {"x": 5}), DirectBallot.of("lo", {"x": 0})),
    )
    resolved = resolve_ballots(decision)
    expected = reference_resolve(decision)
    for m in expected:
        assert int(resolved.stars[resolved.index_of(m), 0]) == expected[m].stars["x"]


def test_followings_of_a_direct_voter_are_ignored() -> None:
    decision = FrozenDecision(
        ("x",),
        (Member("a"), Member("b")),
        (Following("a", "b"),),
        (DirectBallot.of("a", {"x": 1}), DirectBallot.of("b", {"x": 5})),
    )
    assert _stars(resolve_ballots(decision), "a") == {"x": Decimal("1.00000000")}


def test_tagged_following_of_an_untagged_ballot_is_inactive_but_every_topic_is_active() -> None:
    decision = FrozenDecision(
        ("x",),
        (Member("d"), Member("tagged"), Member("every")),
        (Following("tagged", "d", frozenset({"budget"})), Following("every", "d", EVERY)),
        (DirectBallot.of("d", {"x": 3}),),
    )
    resolved = resolve_ballots(decision)
    assert resolved.ballot("tagged") is None
    assert _stars(resolved, "every") == {"x": Decimal("3.00000000")}


def test_a_cycle_cannot_invent_a_ballot_or_a_tag() -> None:
    decision = FrozenDecision(
        ("x",),
        (Member("a"), Member("b"), Member("d"), Member("c")),
        (
            Following("a", "b", frozenset({"parks"})),
            Following("b", "a", EVERY),
            Following("b", "d", frozenset({"budget"})),
            Following("c", "a", frozenset({"parks"})),
        ),
        (DirectBallot.of("d", {"x": 2}, {"budget"}),),
    )
    resolved = resolve_ballots(decision)
    assert resolved.ballot("b").tags == ("budget",)
    assert resolved.ballot("a") is None  # 'parks' never reaches a from a direct ballot
    assert resolved.ballot("c") is None


def test_lobbyist_follower_gets_a_ballot_that_is_not_counted() -> None:
    decision = FrozenDecision(
        ("x",),
        (Member("d"), Member("lob", Role.LOBBYIST)),
        (Following("lob", "d"),),
        (DirectBallot.of("d", {"x": 2}),),
    )
    resolved = resolve_ballots(decision)
    assert resolved.ballot("lob") is not None
    assert resolved.counted.tolist() == [True, False]


def test_member_without_ballot_or_active_following_abstains() -> None:
    decision = FrozenDecision(("x",), (Member("a"), Member("b")), (), ())
    resolved = resolve_ballots(decision)
    assert resolved.ballot("a") is None
    assert not resolved.has_ballot.any()
    assert (resolved.stars == 0).all()


def test_unrated_choice_counts_as_zero_stars() -> None:
    decision = FrozenDecision(("x", "y"), (Member("a"),), (), (DirectBallot.of("a", {"x": 4}),))
    assert _stars(resolve_ballots(decision), "a")["y"] == Decimal("0.00000000")


def test_active_followings_are_listed_by_order_then_followee() -> None:
    decision = FrozenDecision(
        ("x",),
        (Member("v"), Member("d1"), Member("d2"), Member("d3")),
        (
            Following("v", "d3", EVERY, 1),
            Following("v", "d1", EVERY, 2),
            Following("v", "d2", EVERY, 1),
        ),
        tuple(DirectBallot.of(d, {"x": 1}) for d in ("d1", "d2", "d3")),
    )
    resolved = resolve_ballots(decision)
    i = resolved.index_of("v")
    span = slice(resolved.active_ptr[i], resolved.active_ptr[i + 1])
    names = [resolved.member_ids[j] for j in resolved.active_followee[span].tolist()]
    assert names == ["d2", "d3", "d1"]


def test_synthetic_community_equals_the_reference_to_the_last_decimal() -> None:
    decision = generate(400, choices=4, seed=7)
    resolved = resolve_ballots(decision)
    expected = reference_resolve(decision)
    assert int(resolved.has_ballot.sum()) == len(expected)
    for member, ballot in expected.items():
        row = resolved.stars[resolved.index_of(member)].tolist()
        assert dict(zip(resolved.choice_ids, row, strict=True)) == ballot.stars, member


def test_layered_solver_equals_the_reference_on_a_synthetic_community() -> None:
    decision = generate(600, choices=3, seed=11)
    with patch("calc.engine.averaging.ONE_LU_LIMIT", 0):
        resolved = resolve_ballots(decision)
    expected = reference_resolve(decision)
    for member, ballot in expected.items():
        row = resolved.stars[resolved.index_of(member)].tolist()
        assert dict(zip(resolved.choice_ids, row, strict=True)) == ballot.stars, member


def test_ids_given_as_distinct_but_equal_strings_resolve_the_same() -> None:
    """Ids are compared by value; sharing string objects is only a speed-up."""
    decision = generate(300, choices=3, seed=5)

    def copy(text: str) -> str:
        return "".join(list(text))

    copied = FrozenDecision(
        decision.choices,
        tuple(Member(copy(m.id), m.role) for m in decision.members),
        tuple(
            Following(copy(f.follower), copy(f.followee), f.tags, f.order)
            for f in decision.followings
        ),
        tuple(DirectBallot(copy(b.member), b.stars, b.tags) for b in decision.ballots),
    )
    a, b = resolve_ballots(decision), resolve_ballots(copied)
    assert a.member_ids == b.member_ids
    assert (a.stars == b.stars).all()
    assert (a.has_ballot == b.has_ballot).all()


def _tangle(n: int, seed: int) -> FrozenDecision:
    """Return a community where everyone but a few voters follows 3 random members."""
    rng = np.random.default_rng(seed)
    ids = [f"g{i:04d}" for i in range(n)]
    voters = set(rng.choice(n, size=max(2, n // 12), replace=False).tolist())
    followings = []
    for v in range(n):
        if v in voters:
            continue
        for f in sorted(set(rng.integers(0, n, 3).tolist()) - {v}):
            followings.append(Following(ids[v], ids[f]))
    ballots = tuple(
        DirectBallot.of(ids[v], {"x": int(rng.integers(0, 6)), "y": int(rng.integers(0, 6))})
        for v in sorted(voters)
    )
    return FrozenDecision(("x", "y"), tuple(Member(i) for i in ids), tuple(followings), ballots)


def test_tangle_of_cycles_solved_iteratively_equals_the_reference() -> None:
    decision = _tangle(150, seed=3)
    with (
        patch("calc.engine.averaging.ONE_LU_LIMIT", 0),
        patch("calc.engine.averaging.ITERATIVE_FROM", 10),
    ):
        resolved = resolve_ballots(decision)
    expected = reference_resolve(decision)
    for member, ballot in expected.items():
        row = resolved.stars[resolved.index_of(member)].tolist()
        assert dict(zip(resolved.choice_ids, row, strict=True)) == ballot.stars, member


def test_a_cycle_landing_exactly_on_a_rounding_tie_is_rounded_half_to_even():
    """A follows B and C9, B follows A and two zero voters: A = 3/2560, B = 1/2560.

    C9 holds 1/512 after nine halvings; both cycle values end in 5 at the ninth decimal,
    so floating point cannot round them and the exact cyclic solve must.
    """
    members = ["w", "z1", "z2", "a", "b"] + [f"c{i}" for i in range(1, 10)]
    followings = [Following("c1", "w"), Following("c1", "z1")]
    followings += [Following(f"c{i}", f"c{i - 1}") for i in range(2, 10)]
    followings += [Following(f"c{i}", "z1") for i in range(2, 10)]
    followings += [Following("a", "b"), Following("a", "c9")]
    followings += [Following("b", "a"), Following("b", "z1"), Following("b", "z2")]
    decision = FrozenDecision(
        choices=("x",),
        members=tuple(Member(m) for m in members),
        followings=tuple(followings),
        ballots=(
            DirectBallot.of("w", {"x": 1}),
            DirectBallot.of("z1", {"x": 0}),
            DirectBallot.of("z2", {"x": 0}),
        ),
    )
    resolved = resolve_ballots(decision)
    assert _stars(resolved, "c9") == {"x": Decimal("0.00195312")}  # 0.001953125, 2 is even
    assert _stars(resolved, "a") == {"x": Decimal("0.00117188")}  # 0.001171875, 7 is odd
    assert _stars(resolved, "b") == {"x": Decimal("0.00039062")}  # 0.000390625, 2 is even
    reference = reference_resolve(decision)
    for member in ("a", "b", "c9"):
        engine = {c: int(v * STAR_SCALE) for c, v in _stars(resolved, member).items()}
        assert engine == reference[member].stars


def _many_tags_community(tags: int, seed: int) -> FrozenDecision:
    """A community whose ballots use more tags than one 64-bit word holds."""
    rng = np.random.default_rng(seed)
    names = [f"t{i:02d}" for i in range(tags)]
    members = [Member(f"m{i:03d}") for i in range(240)]
    ballots = [
        DirectBallot.of(
            f"m{i:03d}",
            {"a": int(rng.integers(0, 6)), "b": int(rng.integers(0, 6))},
            {names[i], *rng.choice(names, size=int(rng.integers(0, 3)), replace=False).tolist()},
        )
        for i in range(tags)
    ]
    followings = {
        (f"m{i:03d}", f"m{int(j):03d}"): Following(
            f"m{i:03d}",
            f"m{int(j):03d}",
            frozenset(rng.choice(names, size=2, replace=False).tolist())
            if rng.random() < 0.7
            else EVERY,
        )
        for i in range(tags, 240)
        for j in rng.integers(0, 240, size=3)
        if int(j) != i
    }
    return FrozenDecision(("a", "b"), tuple(members), tuple(followings.values()), tuple(ballots))


def test_more_tags_than_a_word_holds_equal_the_reference_by_rounds_or_by_search() -> None:
    tags = 70
    decision = _many_tags_community(tags, seed=3)
    expected = reference_resolve(decision)
    for rounds in (256, 1):
        with patch("calc.engine.delegation.MAX_TAG_ROUNDS", rounds):
            resolved = resolve_ballots(decision)
        assert resolved.tag_bits.shape[1] == 2  # 70 tags and the reach bit: two words
        assert int(resolved.has_ballot.sum()) == len(expected) > tags
        for member, ballot in expected.items():
            assert set(resolved.member_tags(member)) == ballot.tags, member
            row = resolved.stars[resolved.index_of(member)].tolist()
            assert dict(zip(resolved.choice_ids, row, strict=True)) == ballot.stars, member
