"""The JSON form is canonical: the same content gives the same bytes and hash."""

from __future__ import annotations

import json

from calc.engine import (
    DirectBallot,
    Following,
    FrozenDecision,
    Member,
    Role,
    content_hash,
    decision_from_json,
    decision_to_json,
)

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
