"""A result's JSON form: stored rows keep their bytes, and JSON and typed result round-trip."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
from hypothesis import given

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
from calc.result_json import StoredResultError, result_from_json, result_to_json
from tests.calc.engine.strategies import calc_settings, decisions

DECISION = FrozenDecision(
    ("park", "pool", "road"),
    (Member("1"), Member("2"), Member("3"), Member("4", Role.LOBBYIST), Member("5")),
    (Following("3", "1"), Following("3", "2"), Following("5", "4")),
    (
        DirectBallot.of("1", {"park": 5, "pool": 2}),
        DirectBallot.of("2", {"park": 1, "pool": 4}),
        DirectBallot.of("4", {"pool": 5}),
    ),
)
# Written by the engine before results were typed: rows stored since must read the same.
# Rows written since influence was added end with it (INFLUENCE, below).
STORED = (
    '{"contentHash": "f120731433d895bdc21425e48ea288a19cea7a1afe3e52569c7392a10935d926", '
    '"tieBreakPolicy": "LOT", "protocol": "Official STAR Voting Tiebreaker Protocol '
    "(docs.bettervoting.com/help/ties, July 2025); older texts differ only when three or more "
    'choices tie in the scoring round", "winner": "pool", "tiedChoices": [], '
    '"finalists": ["pool", "park"], "scores": [{"choice": "park", "totalStars": "9.00000000", '
    '"averageStars": "2.25000000", "fiveStarCount": 1}, {"choice": "pool", '
    '"totalStars": "14.00000000", "averageStars": "3.50000000", "fiveStarCount": 1}, '
    '{"choice": "road", "totalStars": "0.00000000", "averageStars": "0.00000000", '
    '"fiveStarCount": 0}], "runoff": {"first": "pool", "second": "park", "preferFirst": 2, '
    '"preferSecond": 1, "noPreference": 1}, "tiebreaks": [], "participation": {"members": 5, '
    '"voters": 4, "directBallots": 3, "delegatedBallots": 2, "abstentions": 0, '
    '"countedBallots": 4}}'
)
# Members 1 and 2: their own ballot and half of member 3's; lobbyist 4: only member 5's.
INFLUENCE = '"influence": [["1", "1.50000000"], ["2", "1.50000000"], ["4", "1.00000000"]]'


def _result(decision: FrozenDecision):
    return tally_star(decision, resolve_ballots(decision), content_hash=content_hash(decision))


def test_the_json_form_is_byte_for_byte_what_rows_hold() -> None:
    assert json.dumps(result_to_json(_result(DECISION))) == f"{STORED[:-1]}, {INFLUENCE}}}"


def test_a_stored_row_reads_back_into_the_engine_result() -> None:
    result = result_from_json(json.loads(STORED))
    assert result == dataclasses.replace(_result(DECISION), influence=None)
    assert [s.total_scaled for s in result.scores] == [900_000_000, 1_400_000_000, 0]
    assert result.participation.delegated_ballots == 2


@calc_settings
@given(decisions())
def test_json_and_typed_result_round_trip(decision: FrozenDecision) -> None:
    result = _result(decision)
    stored = json.loads(json.dumps(result_to_json(result)))
    assert result_from_json(stored) == result
    assert result_to_json(result_from_json(stored)) == stored


def test_star_strings_keep_their_spelling() -> None:
    doc = json.loads(STORED)
    doc["scores"][2]["totalStars"] = "0E-8"  # as str(Decimal) spelled zero in early rows
    score = result_from_json(doc).scores[2]
    assert str(score.total_stars) == "0E-8"
    assert score.total_scaled == 0


def _broken(change) -> dict:
    doc = copy.deepcopy(json.loads(STORED))
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("participation"), "participation: expected an object"),
        (lambda d: d["participation"].pop("voters"), r"participation.voters: expected int"),
        (lambda d: d["runoff"].update(preferFirst="2"), r"runoff.preferFirst: expected int"),
        (lambda d: d["scores"][0].update(totalStars="9.5e-9"), r"scores\[0\].totalStars"),
        (lambda d: d["scores"][1].update(fiveStarCount=True), r"scores\[1\].fiveStarCount"),
        (lambda d: d.update(finalists="pool"), "result.finalists: expected a list"),
        (lambda d: d.update(winner=3), "result.winner: expected a string"),
        (lambda d: d.pop("runoff"), "result.runoff: missing"),
        (lambda d: d.update(influence={"1": "1.5"}), "result.influence: expected a list"),
    ],
)
def test_a_malformed_row_is_refused_naming_the_key(change, message) -> None:
    with pytest.raises(StoredResultError, match=message):
        result_from_json(_broken(change))


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([["1", 1.5]], r"influence\[0\].influence: expected 8 places"),
        ([["1", "1.5"]], r"influence\[0\].influence: expected 8 places"),
        ([["1", "1.50000000"], [1, "1.5"]], r"influence\[1\]: expected \[member"),
    ],
)
def test_a_malformed_influence_entry_is_refused_when_read(entries, message) -> None:
    doc = json.loads(STORED)
    doc["influence"] = entries
    influence = result_from_json(doc).influence  # read lazily: the winner costs nothing
    assert influence is not None
    assert len(influence) == len(entries)
    with pytest.raises(StoredResultError, match=message):
        influence.page(0, len(entries))


def test_a_row_stored_before_influence_reads_as_not_available() -> None:
    assert result_from_json(json.loads(STORED)).influence is None
    assert result_to_json(result_from_json(json.loads(STORED)))["influence"] is None


def test_influence_reads_back_with_its_scaled_value() -> None:
    stored = json.loads(f"{STORED[:-1]}, {INFLUENCE}}}")
    influence = result_from_json(stored).influence
    assert influence is not None
    assert [i.member for i in influence.page(1, 1)] == ["2"]  # only that entry is read
    assert influence.page(3, 5) == ()
    assert [(i.member, str(i.influence), i.influence_scaled) for i in influence.page(0, 9)] == [
        ("1", "1.50000000", 150_000_000),
        ("2", "1.50000000", 150_000_000),
        ("4", "1.00000000", 100_000_000),
    ]


def test_no_winner_and_no_runoff_read_back_as_none() -> None:
    result = _result(FrozenDecision(("a", "b"), (Member("v"),)))
    assert (result.winner, result.runoff) == (None, None)
    assert result_from_json(result_to_json(result)) == result
    assert result_to_json(result)["participation"] == {
        "members": 1,
        "voters": 1,
        "directBallots": 0,
        "delegatedBallots": 0,
        "abstentions": 1,
        "countedBallots": 0,
    }
