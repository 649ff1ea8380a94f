"""The JSON form is canonical: the same content gives the same bytes and hash."""

from __future__ import annotations

import json

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
    columns_from_json,
    content_hash,
    decision_from_json,
    decision_to_json,
)
from calc.engine.jsonio import decision_as_object
from calc.engine.validation import index_decision
from devtools.bench import generate
from tests.calc.engine.strategies import calc_settings, decisions, shuffled

DOC = {
    "choices": ["c2", "c1"],
    "tieBreakPolicy": "UNRESOLVED",
    "members": [{"id": "m2", "role": "LOBBYIST"}, {"id": "m1", "role": "VOTER", "extra": 1}],
    "followings": [{"follower": "m1", "followee": "m2", "tags": ["budget"], "order": 1}],
    "ballots": [{"member": "m2", "tags": ["budget"], "stars": {"c1": 5}}],
    "comment": "extra fields are ignored",
}


def test_json_form_parses_into_engine_values() -> None:
    d = decision_from_json(json.dumps(DOC))
    assert set(d.members) == {Member("m1", Role.VOTER), Member("m2", Role.LOBBYIST)}
    assert d.followings == (Following("m1", "m2", frozenset({"budget"}), 1),)
    assert d.ballots == (DirectBallot.of("m2", {"c1": 5}, {"budget"}),)


def test_canonical_json_sorts_everything_and_spells_out_zero_stars() -> None:
    text = decision_to_json(decision_from_json(DOC))
    assert text == (
        '{"ballots":[{"member":"m2","stars":{"c1":5,"c2":0},"tags":["budget"]}],'
        '"choices":["c1","c2"],'
        '"followings":[{"followee":"m2","follower":"m1","order":1,"tags":["budget"]}],'
        '"members":[{"id":"m1","role":"VOTER"},{"id":"m2","role":"LOBBYIST"}],'
        '"tieBreakPolicy":"UNRESOLVED"}'
    )


def test_round_trip_keeps_the_content_hash() -> None:
    d = decision_from_json(DOC)
    again = decision_from_json(decision_to_json(d))
    assert content_hash(again) == content_hash(d)
    assert len(content_hash(d)) == 64


def test_content_hash_ignores_input_order_and_omitted_zero_stars() -> None:
    a = FrozenDecision(
        ("x", "y"),
        (Member("p"), Member("q")),
        (Following("q", "p", frozenset({"t", "u"})),),
        (DirectBallot.of("p", {"x": 3, "y": 0}),),
    )
    b = FrozenDecision(
        ("y", "x"),
        (Member("q"), Member("p")),
        (Following("q", "p", frozenset({"u", "t"})),),
        (DirectBallot.of("p", {"x": 3}),),
    )
    assert content_hash(a) == content_hash(b)


def test_content_hash_of_a_known_decision_is_stable() -> None:
    """Pinned: changing the canonical form changes every lot, so it must be deliberate."""
    assert content_hash(decision_from_json(DOC)) == (
        "82716c9c3b6e381170163f577c8cbad0a0e1afc64f46770342b5fc1e8e17f9e4"
    )


def _old_decision_to_json(decision: FrozenDecision) -> str:
    """The former implementation, kept as the oracle of the direct writer."""
    index_decision(decision)
    return json.dumps(
        decision_as_object(decision), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )


# Quotes, backslashes, "%" (the writer formats with %), control, non-ASCII, astral and lone
# surrogate characters: everything json.dumps escapes.
_odd_text = st.text(
    alphabet=st.one_of(
        st.sampled_from('"\\%/\x00\x1f\x7f é€😀\ud800'),
        st.characters(blacklist_categories=()),
    ),
    min_size=1,
    max_size=5,
)


@st.composite
def _odd_decisions(draw: st.DrawFn) -> FrozenDecision:
    ids = draw(st.lists(_odd_text, min_size=1, max_size=8, unique=True))
    choices = draw(st.lists(_odd_text, min_size=1, max_size=4, unique=True))
    tags = st.frozensets(_odd_text, max_size=3)
    members = tuple(Member(i, draw(st.sampled_from(list(Role)))) for i in ids)
    voters = draw(st.lists(st.sampled_from(ids), unique=True, max_size=len(ids)))
    ballots = tuple(
        DirectBallot.of(
            v,
            {
                c: draw(st.integers(0, 5))
                for c in draw(st.lists(st.sampled_from(choices), unique=True))
            },
            draw(tags),
        )
        for v in voters
    )
    pairs = [(a, b) for a in ids for b in ids if a != b]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    followings = tuple(
        Following(a, b, draw(tags), draw(st.integers(-(2**63), 2**63 - 1))) for a, b in chosen
    )
    policy = draw(st.sampled_from(list(TieBreakPolicy)))
    return FrozenDecision(tuple(choices), members, followings, ballots, policy)


@calc_settings
@given(decision=_odd_decisions(), seed=st.integers(0, 2**32 - 1))
def test_canonical_json_matches_the_json_dumps_oracle(decision: FrozenDecision, seed: int) -> None:
    expected = _old_decision_to_json(decision)
    assert decision_to_json(decision) == expected
    assert decision_to_json(shuffled(decision, seed)) == expected
    assert decision_to_json(decision, indexed=index_decision(decision)) == expected


@calc_settings
@given(decision=decisions(), seed=st.integers(0, 2**32 - 1))
def test_canonical_json_of_engine_communities_matches_the_oracle(
    decision: FrozenDecision, seed: int
) -> None:
    assert decision_to_json(shuffled(decision, seed)) == _old_decision_to_json(decision)


def test_canonical_json_of_the_benchmark_community_matches_the_oracle() -> None:
    decision = generate(members=2_000, choices=7, seed=3)
    assert decision_to_json(decision) == _old_decision_to_json(decision)


@calc_settings
@given(decisions())
def test_columns_from_json_reads_what_decision_from_json_reads(decision) -> None:
    text = decision_to_json(decision)
    columns = columns_from_json(text)
    assert isinstance(columns, DecisionColumns)
    assert decision_to_json(columns) == text


def test_columns_from_json_takes_defaults_and_any_order_like_the_object_reader() -> None:
    doc = {
        "choices": ["b", "a"],
        "members": [{"id": "z", "role": "VOTER"}, {"id": "y", "role": "LOBBYIST"}],
        "followings": [{"follower": "y", "followee": "z"}],  # every topic, order 1
        "ballots": [{"member": "z", "stars": {"a": 4}, "tags": ["parks", "budget"]}],
    }
    assert decision_to_json(columns_from_json(doc)) == decision_to_json(decision_from_json(doc))


IRREGULAR = {
    "string stars": ({"ballots": [{"member": "m", "stars": {"a": "5"}}]}, r"stars.a: expected"),
    "boolean order": (
        {"followings": [{"follower": "m", "followee": "n", "order": True}]},
        r"followings\[0\].order: expected an integer",
    ),
    "tags not a list": (
        {"followings": [{"follower": "m", "followee": "n", "tags": "parks"}]},
        r"followings\[0\].tags: expected a list of strings",
    ),
    "stranger": (
        {"followings": [{"follower": "m", "followee": "x"}]},
        "'m' -> 'x': followee is not a member",
    ),
    "unknown choice": (
        {"ballots": [{"member": "m", "stars": {"zz": 1}}]},
        "ballot of 'm': unknown choice 'zz'",
    ),
    "huge stars": (
        {"ballots": [{"member": "m", "stars": {"a": 2**70}}]},
        "stars for 'a' must be an integer 0-5",
    ),
    "six stars": ({"ballots": [{"member": "m", "stars": {"a": 6}}]}, "got 6"),
    "duplicate member": ({"members": [{"id": "m", "role": "VOTER"}] * 2}, "duplicate member"),
    "unknown role": ({"members": [{"id": "m", "role": "KING"}]}, "not VOTER or LOBBYIST"),
    "self follow": ({"followings": [{"follower": "m", "followee": "m"}]}, "follows themself"),
    "duplicate choice": ({"choices": ["a", "a"]}, "duplicate choice id 'a'"),
    "choices not a list": ({"choices": "a"}, "choices: wrong type str"),
    "unknown policy": ({"tieBreakPolicy": "COIN"}, "tieBreakPolicy: 'COIN' is not LOT"),
    "stars not an object": (
        {"ballots": [{"member": "m", "stars": [1]}]},
        r"ballots\[0\].stars: wrong type list",
    ),
}


@pytest.mark.parametrize(("changes", "message"), IRREGULAR.values(), ids=IRREGULAR.keys())
@pytest.mark.parametrize("reader", [decision_from_json, columns_from_json])
def test_both_readers_refuse_an_irregular_document_alike(reader, changes, message) -> None:
    members = [{"id": "m", "role": "VOTER"}, {"id": "n", "role": "VOTER"}]
    doc = {"choices": ["a"], "members": members, **changes}
    with pytest.raises(EngineInputError, match=message):
        reader(doc)
