"""A file that is not a snapshot is refused with where it stops being one; nothing is checked."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from crowdvote_verify.__main__ import main
from crowdvote_verify.check import verify
from crowdvote_verify.document import Unreadable, canonical_text, read, read_input

CASE = (
    Path(__file__).parents[1]
    / "calc"
    / "cases"
    / "semantics_example_1_tags_averaging_lobbyist.json"
)
EXAMPLE = json.loads(CASE.read_text())["input"]


def snapshot(**changes: object) -> dict:
    doc = {
        "format": "crowdvote-snapshot/1",
        "decision": {"id": "RGVjaXNpb246MQ==", "title": "Example"},
        "hashes": {"publishedHash": "0" * 64, "contentHash": "1" * 64},
        "choices": [{"id": "park", "title": "Park"}, {"id": "road", "title": "Road"}],
        "members": [{"key": "ann", "name": "Quiet Otter 3f9a"}],
        "result": {},
        "ballots": [],
        "input": EXAMPLE,
    }
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{not json", "not JSON"),
        ("[]", "file: expected an object"),
        (json.dumps(snapshot(format="other/1")), "format: expected 'crowdvote-snapshot/1'"),
        (json.dumps(snapshot(hashes={})), "hashes.publishedHash: expected a string"),
        (
            json.dumps(snapshot(choices=[{"id": 1, "title": "Park"}])),
            "choices[0].id: expected a string",
        ),
        (json.dumps(snapshot(members=[{"key": "a"}])), "members[0].name: expected a string"),
        (json.dumps(snapshot(input={**EXAMPLE, "tieBreakPolicy": "COIN"})), "is not LOT or"),
        (
            json.dumps(snapshot(input={**EXAMPLE, "members": [{"id": "a", "role": "KING"}]})),
            "input.members[0].role: 'KING' is not VOTER or LOBBYIST",
        ),
        (
            json.dumps(snapshot(input={**EXAMPLE, "members": [EXAMPLE["members"][0]] * 2})),
            "a member id appears twice",
        ),
        (
            json.dumps(
                snapshot(
                    input={
                        **EXAMPLE,
                        "followings": [
                            {"follower": "ann", "followee": "zed", "tags": [], "order": 1}
                        ],
                    }
                )
            ),
            "input.followings[0]: names someone who is not a member",
        ),
        (
            json.dumps(
                snapshot(
                    input={
                        **EXAMPLE,
                        "ballots": [{"member": "ann", "tags": [], "stars": {"park": 6}}],
                    }
                )
            ),
            "input.ballots[0].stars.park: expected a choice and 0 to 5 stars",
        ),
        (
            json.dumps(
                snapshot(input={**EXAMPLE, "ballots": [{"member": "zed", "tags": [], "stars": {}}]})
            ),
            "input.ballots[0].member: 'zed' is not a member",
        ),
        (
            json.dumps(snapshot(ballots=[{"member": "ann", "isDelegated": 1}])),
            "ballots[0].isDelegated: expected true or false",
        ),
        (
            json.dumps(
                snapshot(ballots=[{"member": "ann", "isDelegated": False, "stars": {"park": 5}}])
            ),
            "ballots[0].stars: expected 8-place strings",
        ),
    ],
)
def test_what_is_not_a_snapshot_is_named(doc: str, message: str) -> None:
    with pytest.raises(Unreadable) as refused:
        read(doc)

    assert message in str(refused.value)


def test_the_canonical_text_is_the_documented_one() -> None:
    doc = {
        "choices": ["c1", "c2", "c3"],
        "tieBreakPolicy": "LOT",
        "members": [{"id": "m1", "role": "VOTER"}, {"id": "m2", "role": "LOBBYIST"}],
        "followings": [{"follower": "m1", "followee": "m2", "tags": ["budget"], "order": 1}],
        "ballots": [{"member": "m2", "tags": ["budget"], "stars": {"c1": 5, "c2": 3}}],
    }

    assert canonical_text(read_input(doc)) == (
        '{"ballots":[{"member":"m2","stars":{"c1":5,"c2":3,"c3":0},"tags":["budget"]}],'
        '"choices":["c1","c2","c3"],"followings":[{"followee":"m2","follower":"m1","order":1,'
        '"tags":["budget"]}],"members":[{"id":"m1","role":"VOTER"},{"id":"m2","role":"LOBBYIST"}],'
        '"tieBreakPolicy":"LOT"}'
    )


def test_an_empty_result_is_a_mismatch_not_a_crash() -> None:
    verdict = verify(read(json.dumps(snapshot())))

    assert verdict.lines[0].startswith("MISMATCH: first difference: published hash")


def test_the_file_may_come_on_standard_input(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"{not json")))

    assert main(["-"]) == 2
    assert capsys.readouterr().err.startswith("ERROR: cannot read - as a CrowdVote snapshot")
