"""Explanations show each active following down to direct voters, cycles marked once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from calc.engine import (
    DirectBallot,
    EngineInputError,
    Following,
    FrozenDecision,
    Member,
    Role,
    explain_ballot,
    resolve_ballots,
)

EVERY = frozenset[str]()


def _example_one() -> FrozenDecision:
    return FrozenDecision(
        ("park", "road"),
        (
            Member("ann"),
            Member("eve", Role.LOBBYIST),
            Member("ben"),
            Member("cat"),
            Member("dan"),
            Member("fay"),
        ),
        (
            Following("ben", "ann", frozenset({"budget"}), 1),
            Following("ben", "eve", EVERY, 2),
            Following("cat", "ben", frozenset({"budget"})),
            Following("dan", "ben", frozenset({"schools"})),
            Following("fay", "cat", EVERY),
        ),
        (
            DirectBallot.of("ann", {"park": 5, "road": 1}, {"budget"}),
            DirectBallot.of("eve", {"park": 2, "road": 4}, {"budget", "parks"}),
        ),
    )


def test_explanation_follows_delegates_down_to_direct_voters() -> None:
    d = _example_one()
    fay = explain_ballot(d, resolve_ballots(d), "fay")
    assert fay is not None
    assert fay.is_delegated
    (cat,) = fay.sources
    assert (cat.delegate, cat.weight, cat.matched_tags) == (
        "cat",
        Decimal("1.00000000"),
        ("budget",),
    )
    (ben,) = cat.explanation.sources
    assert ben.matched_tags == ("budget",)
    ann, eve = ben.explanation.sources
    assert (ann.delegate, ann.matched_tags, ann.weight) == (
        "ann",
        ("budget",),
        Decimal("0.50000000"),
    )
    assert (eve.delegate, eve.matched_tags) == ("eve", ("budget", "parks"))
    assert dict(eve.stars) == {"park": Decimal("2.00000000"), "road": Decimal("4.00000000")}
    assert eve.explanation.sources == ()
    assert not eve.explanation.is_delegated


def test_direct_ballot_is_explained_without_sources() -> None:
    d = _example_one()
    ann = explain_ballot(d, resolve_ballots(d), "ann")
    assert ann is not None
    assert not ann.is_delegated
    assert ann.sources == ()


def test_abstainer_has_no_explanation() -> None:
    d = _example_one()
    assert explain_ballot(d, resolve_ballots(d), "dan") is None


def test_unknown_member_is_refused() -> None:
    d = _example_one()
    with pytest.raises(EngineInputError, match="unknown member 'zed'"):
        explain_ballot(d, resolve_ballots(d), "zed")


def test_cycle_is_shown_once_and_marked() -> None:
    d = FrozenDecision(
        ("x",),
        (Member("a"), Member("b"), Member("xia"), Member("yan")),
        (
            Following("a", "b"),
            Following("a", "xia", EVERY, 2),
            Following("b", "a"),
            Following("b", "yan", EVERY, 2),
        ),
        (DirectBallot.of("xia", {"x": 5}), DirectBallot.of("yan", {"x": 1})),
    )
    a = explain_ballot(d, resolve_ballots(d), "a")
    b_source = a.sources[0]
    assert b_source.delegate == "b"
    assert not b_source.cycle
    back = b_source.explanation.sources[0]
    assert back.delegate == "a"
    assert back.cycle
    assert back.explanation is None
    assert dict(a.stars) == {"x": Decimal("3.66666667")}


def test_shared_delegate_is_expanded_once_without_being_a_cycle() -> None:
    d = FrozenDecision(
        ("x",),
        (Member("v"), Member("p"), Member("q"), Member("s"), Member("d")),
        (
            Following("v", "p"),
            Following("v", "q"),
            Following("p", "s"),
            Following("q", "s"),
            Following("s", "d"),
        ),
        (DirectBallot.of("d", {"x": 3}),),
    )
    v = explain_ballot(d, resolve_ballots(d), "v")
    p, q = v.sources
    s_first, s_again = p.explanation.sources[0], q.explanation.sources[0]
    assert s_first.explanation is not None
    assert not s_first.cycle
    assert s_again.explanation is None
    assert not s_again.cycle


def test_max_depth_limits_the_tree() -> None:
    d = _example_one()
    fay = explain_ballot(d, resolve_ballots(d), "fay", max_depth=1)
    assert fay.sources[0].delegate == "cat"
    assert fay.sources[0].explanation is None


def test_explaining_the_end_of_a_long_chain_needs_no_recursion() -> None:
    n = 5_000
    members = (Member("d"), *(Member(f"v{i:05d}") for i in range(n)))
    followings = [Following("v00000", "d")] + [
        Following(f"v{i:05d}", f"v{i - 1:05d}") for i in range(1, n)
    ]
    d = FrozenDecision(("x",), members, tuple(followings), (DirectBallot.of("d", {"x": 2}),))
    node = explain_ballot(d, resolve_ballots(d), f"v{n - 1:05d}")
    depth = 0
    while node is not None and node.sources:
        node = node.sources[0].explanation
        depth += 1
    assert depth == n
