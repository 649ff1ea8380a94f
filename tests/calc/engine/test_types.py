"""The engine's input types normalise what callers give them, and refuse what they cannot."""

from __future__ import annotations

import pytest

from calc.engine import (
    DirectBallot,
    EngineInputError,
    FrozenDecision,
    Member,
    Role,
    TieBreakPolicy,
    resolve_ballots,
    tally_star,
)
from calc.engine.types import Following, InfluenceRanking, SortedIdIndex


def test_iterables_become_tuples_and_frozensets() -> None:
    following = Following("a", "b", tags=["roads", "roads"])
    ballot = DirectBallot("a", {"2": 3, "1": 5}, tags=["parks"])
    decision = FrozenDecision(
        choices=["1", "2"], members=[Member("a"), Member("b")], followings=[following]
    )
    assert following.tags == frozenset({"roads"})
    assert ballot.stars == (("1", 5), ("2", 3))  # sorted by choice: equal ballots compare equal
    assert ballot.tags == frozenset({"parks"})
    assert ballot.star_map() == {"1": 5, "2": 3}
    assert (decision.choices, decision.member_count) == (("1", "2"), 2)


def test_stars_that_are_not_pairs_are_refused() -> None:
    with pytest.raises(EngineInputError, match="ballot of 'a': stars must be"):
        DirectBallot("a", [("1", 5), 7])  # type: ignore[list-item]


@pytest.mark.parametrize("value", ["ADMIN", 3, None])
def test_a_role_or_policy_outside_the_enum_is_refused(value: object) -> None:
    with pytest.raises(EngineInputError, match=r"member .a. role: .* is not one of VOTER"):
        Member("a", value)  # type: ignore[arg-type]
    with pytest.raises(EngineInputError, match=r"tie-break policy: .* is not one of"):
        FrozenDecision(choices=(), members=(), tie_break_policy=value)  # type: ignore[arg-type]
    assert Member("a", "LOBBYIST").role is Role.LOBBYIST
    assert FrozenDecision((), (), tie_break_policy="LOT").tie_break_policy is TieBreakPolicy.LOT


def test_a_sorted_id_index_is_a_mapping_of_positions() -> None:
    index = SortedIdIndex(("10", "3", "7"))
    assert (index["3"], len(index), list(index)) == (1, 3, ["10", "3", "7"])
    assert "7" in index
    assert "8" not in index
    assert 3 not in index
    with pytest.raises(KeyError):
        index["8"]


def test_an_influence_ranking_compares_by_its_entries_loaded_or_not() -> None:
    eager = InfluenceRanking(["a", "b"], [200, 100])
    lazy = InfluenceRanking.lazy(2, lambda start, stop: (("a", "b")[start:stop], (200, 100)))
    assert eager == lazy
    assert hash(eager) == hash(lazy)
    assert eager != InfluenceRanking(["a"], [200])
    assert eager != ("a", "b")
    assert repr(lazy) == "InfluenceRanking(2 direct voters)"
    with pytest.raises(EngineInputError, match="as many values as members"):
        InfluenceRanking(["a", "b"], [1])


def test_a_results_score_is_found_by_choice_and_an_unknown_one_refused() -> None:
    decision = FrozenDecision(
        choices=("1", "2"),
        members=(Member("a"),),
        ballots=(DirectBallot.of("a", {"1": 4, "2": 1}),),
    )
    result = tally_star(decision, resolve_ballots(decision), content_hash="0" * 64)
    assert (result.score("1").choice, result.score("2").choice) == ("1", "2")
    with pytest.raises(EngineInputError, match="unknown choice '9'"):
        result.score("9")
