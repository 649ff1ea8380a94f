"""The columnar input: same results as the object form, any order, bad columns refused."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calc.engine import (
    DecisionColumns,
    DirectBallot,
    EngineInputError,
    Following,
    FrozenDecision,
    Member,
    Role,
    TieBreakPolicy,
    content_hash,
    decision_columns,
    decision_from_columns,
    decision_to_json,
    resolve_ballots,
    tally_star,
)
from calc.engine.validation import index_decision
from tests.calc.engine.strategies import calc_settings, decisions
from tests.calc.engine.test_reference_agreement import _output


def shuffled_columns(columns: DecisionColumns, seed: int) -> DecisionColumns:
    """Return the same decision with members, choices, rows and tag sets all reordered."""
    rng = np.random.default_rng(seed)
    n = len(columns.member_ids)
    new_row = rng.permutation(n)  # member at old row i moves to new_row[i]
    member_ids = [""] * n
    for old, new in enumerate(new_row.tolist()):
        member_ids[new] = columns.member_ids[old]
    is_voter = np.empty(n, dtype=np.bool_)
    is_voter[new_row] = columns.is_voter
    choice_perm = rng.permutation(len(columns.choices))
    f = rng.permutation(columns.follow_src.size)
    b = rng.permutation(columns.ballot_member.size)
    follow_sets = rng.permutation(len(columns.follow_tag_sets))  # new position of each set
    ballot_sets = rng.permutation(len(columns.ballot_tag_sets))

    def reorder_sets(sets: tuple[frozenset[str], ...], new_pos: np.ndarray) -> list:
        out: list[frozenset[str]] = [frozenset()] * len(sets)
        for old, new in enumerate(new_pos.tolist()):
            out[new] = sets[old]
        return out

    return DecisionColumns(
        choices=tuple(columns.choices[i] for i in choice_perm.tolist()),
        member_ids=tuple(member_ids),
        is_voter=is_voter,
        follow_src=new_row[columns.follow_src[f]],
        follow_dst=new_row[columns.follow_dst[f]],
        follow_tag_sets=reorder_sets(columns.follow_tag_sets, follow_sets),
        follow_tag_code=follow_sets[columns.follow_tag_code[f]],
        follow_order=columns.follow_order[f],
        ballot_member=new_row[columns.ballot_member[b]],
        ballot_stars=columns.ballot_stars[b][:, choice_perm],
        ballot_tag_sets=reorder_sets(columns.ballot_tag_sets, ballot_sets),
        ballot_tag_code=ballot_sets[columns.ballot_tag_code[b]],
        tie_break_policy=columns.tie_break_policy,
    )


@calc_settings
@given(decisions(), st.integers(0, 2**32))
def test_columns_in_any_order_give_the_objects_output_byte_for_byte(decision, seed) -> None:
    columns = decision_columns(decision)
    assert _output(columns) == _output(decision)
    assert _output(shuffled_columns(columns, seed)) == _output(decision)


@calc_settings
@given(decisions())
def test_columns_and_objects_convert_both_ways_without_loss(decision) -> None:
    back = decision_from_columns(decision_columns(decision))
    assert decision_to_json(back) == decision_to_json(decision)


def _columns(**changes: object) -> DecisionColumns:
    """ann votes; ben follows ann on budget; cat (a lobbyist) follows ben on everything."""
    base: dict[str, object] = {
        "choices": ("a", "b"),
        "member_ids": ("ann", "ben", "cat"),
        "is_voter": [True, True, False],
        "follow_src": [1, 2],
        "follow_dst": [0, 1],
        "follow_tag_sets": [frozenset({"budget"}), frozenset()],
        "follow_tag_code": [0, 1],
        "follow_order": [1, 1],
        "ballot_member": [0],
        "ballot_stars": [[5, 1]],
        "ballot_tag_sets": [frozenset({"budget"})],
        "ballot_tag_code": [0],
    }
    base.update(changes)
    return DecisionColumns(**base)  # type: ignore[arg-type]


def test_a_hand_built_decision_resolves_like_its_object_form() -> None:
    columns = _columns(member_ids=("cat", "ann", "ben"), follow_src=[2, 0], follow_dst=[1, 2])
    columns = replace(columns, ballot_member=np.array([1]), is_voter=np.array([False, True, True]))
    objects = FrozenDecision(
        ("a", "b"),
        (Member("ann"), Member("ben"), Member("cat", Role.LOBBYIST)),
        (Following("ben", "ann", frozenset({"budget"})), Following("cat", "ben")),
        (DirectBallot.of("ann", {"a": 5, "b": 1}, {"budget"}),),
    )
    assert _output(columns) == _output(objects)
    resolved = resolve_ballots(columns)
    assert resolved.ballot("cat").stars == resolved.ballot("ben").stars  # type: ignore[union-attr]
    result = tally_star(columns, resolved, content_hash=content_hash(columns))
    assert result.winner == "a"
    assert result.participation.counted_ballots == 2  # ann and ben; cat lobbies


def test_lists_become_arrays_and_the_policy_an_enum() -> None:
    columns = _columns(tie_break_policy="UNRESOLVED", choices=["a", "b"])
    assert columns.tie_break_policy is TieBreakPolicy.UNRESOLVED
    assert columns.choices == ("a", "b")
    assert columns.follow_src.dtype == np.int64
    assert columns.ballot_stars.shape == (1, 2)
    assert columns.member_count == 3
    with pytest.raises(ValueError, match="read-only"):
        columns.follow_src[0] = 0
    empty = DecisionColumns(("a",), ("ann",), [True])
    assert empty.ballot_stars.shape == (0, 0)
    index_decision(empty)


BAD = {
    "follower row out of range": ({"follow_src": [1, 3]}, "follower 3 is not a member row"),
    "negative followee row": ({"follow_dst": [0, -1]}, "followee -1 is not a member row"),
    "self follow": ({"follow_dst": [0, 2]}, "member 'cat' follows themself"),
    "duplicate following": (
        {"follow_src": [1, 1], "follow_dst": [0, 0]},
        "following 'ben' -> 'ann' appears twice",
    ),
    "duplicate ballot": (
        {"ballot_member": [0, 0], "ballot_stars": [[1, 1], [2, 2]], "ballot_tag_code": [0, 0]},
        "duplicate ballot by 'ann'",
    ),
    "stars above five": ({"ballot_stars": [[5, 6]]}, "'ann': stars for 'b' must be .* got 6"),
    "negative stars": ({"ballot_stars": [[-1, 0]]}, "'ann': stars for 'a' must be .* got -1"),
    "stars for too few choices": (
        {"ballot_stars": [[5]]},
        r"a column per choice \(1, 2\), got \(1, 1\)",
    ),
    "roles for too few members": ({"is_voter": [True, True]}, "is_voter has 2 entries for 3"),
    "following columns of different lengths": (
        {"follow_order": [1]},
        "following columns differ in length",
    ),
    "ballot tags for too few ballots": (
        {"ballot_tag_code": []},
        "ballot_tag_code has 0 entries for 1 ballots",
    ),
    "tag code out of range": ({"follow_tag_code": [0, 2]}, "following tags: a tag code"),
    "empty tag": (
        {"ballot_tag_sets": [frozenset({""})]},
        "ballot tags must be non-empty strings, got ''",
    ),
    "duplicate member": ({"member_ids": ("ann", "ben", "ann")}, "duplicate member 'ann'"),
    "empty member id": ({"member_ids": ("", "ann", "ben")}, "member ids must be non-empty"),
    "member id not a string": ({"member_ids": ("ann", 2, "ben")}, "member ids must be non-empty"),
    "no choices": ({"choices": ()}, "at least one choice"),
    "duplicate choice": ({"choices": ("a", "a")}, "duplicate choice id 'a'"),
}


@pytest.mark.parametrize(("changes", "message"), BAD.values(), ids=BAD.keys())
def test_inconsistent_columns_are_refused_naming_the_problem(changes, message) -> None:
    columns = _columns(**changes)
    with pytest.raises(EngineInputError, match=message):
        resolve_ballots(columns)
    with pytest.raises(EngineInputError, match=message):
        index_decision(columns)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"follow_src": [1.0, 2.0]}, "follow_src must be a 1-dimensional array of integers"),
        ({"ballot_stars": [5, 1]}, "ballot_stars must be a 2-dimensional array of integers"),
        ({"is_voter": [1, 1, 0]}, "is_voter must be an array of booleans"),
        ({"tie_break_policy": "COIN"}, "tie-break policy: 'COIN' is not one of LOT, UNRESOLVED"),
    ],
)
def test_columns_of_the_wrong_kind_are_refused_on_construction(changes, message) -> None:
    with pytest.raises(EngineInputError, match=message):
        _columns(**changes)


def test_unsorted_member_ids_are_sorted_and_rows_follow_them() -> None:
    rng = random.Random(3)
    ids = [f"m{i:03d}" for i in range(50)]
    rng.shuffle(ids)
    columns = DecisionColumns(
        choices=("x",),
        member_ids=tuple(ids),
        is_voter=[True] * 50,
        follow_src=[ids.index("m001")],
        follow_dst=[ids.index("m000")],
        follow_tag_sets=[frozenset()],
        follow_tag_code=[0],
        follow_order=[1],
        ballot_member=[ids.index("m000")],
        ballot_stars=[[4]],
        ballot_tag_sets=[frozenset()],
        ballot_tag_code=[0],
    )
    resolved = resolve_ballots(columns)
    assert resolved.member_ids == tuple(sorted(ids))
    assert resolved.ballot("m001").stars == resolved.ballot("m000").stars  # type: ignore[union-attr]
    assert resolved.ballot("m002") is None
