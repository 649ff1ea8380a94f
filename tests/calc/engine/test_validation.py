"""Malformed input is refused with an EngineInputError that names what is wrong."""

from __future__ import annotations

import pytest

from calc.engine import (
    DirectBallot,
    EngineInputError,
    Following,
    FrozenDecision,
    Member,
    Role,
    decision_from_json,
    resolve_ballots,
)
from calc.engine.validation import index_decision


def _decision(**changes: object) -> FrozenDecision:
    base: dict[str, object] = {
        "choices": ("a", "b"),
        "members": (Member("ann"), Member("ben"), Member("cat", Role.LOBBYIST)),
        "followings": (Following("ben", "ann", frozenset({"budget"})),),
        "ballots": (DirectBallot.of("ann", {"a": 5, "b": 1}, {"budget"}),),
    }
    base.update(changes)
    return FrozenDecision(**base)  # type: ignore[arg-type]


BAD = {
    "no choices": ({"choices": ()}, "at least one choice"),
    "duplicate choice": ({"choices": ("a", "b", "a")}, "duplicate choice id 'a'"),
    "duplicate member": (
        {"members": (Member("ann"), Member("ben"), Member("ann"))},
        "duplicate member 'ann'",
    ),
    "follower not a member": (
        {"followings": (Following("zed", "ann"),)},
        "'zed' -> 'ann': follower is not a member",
    ),
    "followee not a member": (
        {"followings": (Following("ben", "zed"),)},
        "'ben' -> 'zed': followee is not a member",
    ),
    "follower not a string": (
        {"followings": (Following(7, "ann"),)},  # type: ignore[arg-type]
        "7 -> 'ann': follower is not a member",
    ),
    "members not Member values": (
        {"members": (Member("ann"), "ben")},
        "members must be Member values, got 'ben'",
    ),
    "self follow": ({"followings": (Following("ben", "ben"),)}, "'ben' follows themself"),
    "duplicate following": (
        {"followings": (Following("ben", "ann"), Following("ben", "ann", frozenset({"x"})))},
        "'ben' -> 'ann' appears twice",
    ),
    "ballot by non-member": (
        {"ballots": (DirectBallot.of("zed", {"a": 1}),)},
        "ballot by non-member 'zed'",
    ),
    "duplicate ballot": (
        {"ballots": (DirectBallot.of("ann", {"a": 1}), DirectBallot.of("ann", {"b": 2}))},
        "duplicate ballot by 'ann'",
    ),
    "stars above five": (
        {"ballots": (DirectBallot.of("ann", {"a": 6}),)},
        "stars for 'a' must be an integer 0-5, got 6",
    ),
    "negative stars": (
        {"ballots": (DirectBallot.of("ann", {"a": -1}),)},
        "stars for 'a' must be an integer 0-5, got -1",
    ),
    "fractional stars": (
        {"ballots": (DirectBallot.of("ann", {"a": 2.5}),)},  # type: ignore[dict-item]
        "stars for 'a' must be an integer 0-5, got 2.5",
    ),
    "boolean stars": (
        {"ballots": (DirectBallot.of("ann", {"a": True}),)},
        "stars for 'a' must be an integer 0-5, got True",
    ),
    "unknown choice": (
        {"ballots": (DirectBallot.of("ann", {"zzz": 3}),)},
        "ballot of 'ann': unknown choice 'zzz'",
    ),
    "choice given twice": (
        {"ballots": (DirectBallot("ann", (("a", 1), ("a", 2))),)},
        "ballot of 'ann': choice 'a' given twice",
    ),
}


@pytest.mark.parametrize(("changes", "message"), BAD.values(), ids=BAD.keys())
def test_malformed_decision_is_refused_naming_the_problem(changes, message) -> None:
    with pytest.raises(EngineInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_ballots(_decision(**changes))


def test_validate_accepts_a_sound_decision() -> None:
    index_decision(_decision())


def test_unknown_role_is_refused() -> None:
    with pytest.raises(EngineInputError, match="role"):
        Member("ann", "BOSS")  # type: ignore[arg-type]


def test_unknown_tie_break_policy_is_refused() -> None:
    with pytest.raises(EngineInputError, match="tie-break policy"):
        _decision(tie_break_policy="COIN")


def test_engine_input_error_is_a_value_error() -> None:
    assert issubclass(EngineInputError, ValueError)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("not json", "not valid JSON"),
        ({"members": []}, "missing 'choices'"),
        ({"choices": ["a"], "members": [{"id": "m"}]}, r"members\[0\]: missing 'role'"),
        ({"choices": ["a"], "members": [{"id": "m", "role": "KING"}]}, "not VOTER or LOBBYIST"),
        (
            {"choices": ["a"], "members": [], "tieBreakPolicy": "COIN"},
            "tieBreakPolicy: 'COIN'",
        ),
        (
            {
                "choices": ["a"],
                "members": [{"id": "m", "role": "VOTER"}],
                "ballots": [{"member": "m", "stars": {"a": "5"}}],
            },
            r"ballots\[0\].stars.a: expected an integer",
        ),
        (
            {
                "choices": ["a"],
                "members": [{"id": "m", "role": "VOTER"}],
                "followings": [{"follower": "m", "followee": "x", "tags": [], "order": 1}],
            },
            "followee is not a member",
        ),
    ],
)
def test_malformed_json_is_refused_naming_the_problem(doc, message) -> None:
    with pytest.raises(EngineInputError, match=message):
        decision_from_json(doc)


def test_a_following_order_that_is_not_an_integer_is_named():
    bad = _decision(followings=(Following("ben", "ann", frozenset(), "first"),))  # type: ignore[arg-type]
    with pytest.raises(EngineInputError, match="order must be an integer, got 'first'"):
        resolve_ballots(bad)


def test_integer_like_orders_are_accepted():
    import numpy as np

    class Rank(int):
        pass

    for order in (np.int64(2), Rank(3)):
        fine = _decision(followings=(Following("ben", "ann", frozenset({"budget"}), order),))
        assert resolve_ballots(fine).ballot("ben") is not None
