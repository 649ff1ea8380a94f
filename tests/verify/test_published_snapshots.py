"""Snapshots the running system publishes recount the same in the standalone verifier.

Every golden case (cycles, every tiebreak kind, lobbyists, tags) is built as a community with
anonymous members, calculated by the worker's path, downloaded from the URL the API gives,
and recounted by ``crowdvote_verify``; a tampered copy is caught.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from django.test import Client
from strawberry.relay import to_base64

import calc.results
from calc.engine import (
    Explanation,
    decision_from_json,
    explain_ballot,
    resolve_ballots,
    tally_star,
)
from calc.models import Calculation, StoredSnapshot
from calc.publish import member_keys
from calc.result_json import result_to_json
from calc.services import decision_calculate
from calc.snapshot import snapshot_load
from crowdvote_verify.check import verify
from crowdvote_verify.document import canonical_hash, read, read_input
from democracy.pseudonyms import display_name, pseudonym
from democracy.services.ballots import StarsSpec, ballot_cast
from tests.verify.support import CASES, build, download, load_case

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def _before_the_lot(sentence: str) -> str:
    """Return a tiebreak sentence without its lot, which the system seeds with another hash."""
    return "; ".join(clause for clause in sentence.split("; ") if "seed" not in clause)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_every_golden_case_published_by_the_system_recounts_ok(path: Path, graphql_as) -> None:
    case = json.loads(path.read_text())
    built = build(case)
    body = download(graphql_as(None), built.decision)

    verdict = verify(read(body))

    assert verdict.ok, verdict.lines
    assert verdict.lines[0].startswith("OK: ")
    # The same tiebreak kind happened in the system (choices are titled by the case's ids).
    expected = case["expected"].get("tiebreaks")
    if expected is not None:
        published = json.loads(body)["result"]["tiebreaks"]
        assert [_before_the_lot(t) for t in published] == [_before_the_lot(t) for t in expected]


def test_anonymous_members_appear_by_pseudonym_and_no_username_is_published(graphql_as) -> None:
    built = build(load_case("semantics_example_1_tags_averaging_lobbyist"))
    text = download(graphql_as(None), built.decision).decode()
    doc = json.loads(text)
    names = {m["name"] for m in doc["members"]}

    for membership in built.members.values():
        assert display_name(membership) in names
        if membership.is_anonymous:
            assert membership.user.username not in text
            assert membership.user.email not in text
            assert pseudonym(membership.pk) in names
    assert any(m.is_anonymous for m in built.members.values())
    assert str(built.members["ann"].pk) not in {m["key"] for m in doc["members"]}


def test_the_file_carries_both_hashes_and_the_stored_result(graphql_as) -> None:
    built = build(load_case("tie_runoff_lot_draw"))
    client = graphql_as(None)
    doc = json.loads(download(client, built.decision))
    calculation = Calculation.objects.get(decision=built.decision)

    assert doc["format"] == "crowdvote-snapshot/1"
    # The stored result, but for influence: listed by published key, not membership id.
    published_keys = {m["key"] for m in doc["members"]}
    assert {m for m, _ in doc["result"]["influence"]} <= published_keys
    assert {**doc["result"], "influence": None} == {**calculation.results, "influence": None}
    assert doc["hashes"]["contentHash"] == calculation.content_hash == doc["result"]["contentHash"]
    assert doc["hashes"]["publishedHash"] == canonical_hash(read_input(doc["input"]))
    assert doc["hashes"]["publishedHash"] != doc["hashes"]["contentHash"]
    # The lot was drawn with the stored content hash, and the sentence names its seed.
    assert f"seed {calculation.content_hash[:8]}" in doc["result"]["tiebreaks"][0]


def test_published_keys_keep_the_order_of_the_member_ids_they_replace(graphql_as) -> None:
    built = build(load_case("star_tennessee_capital"))
    doc = json.loads(download(graphql_as(None), built.decision))
    keys = [m["id"] for m in doc["input"]["members"]]

    stored = sorted(str(m.pk) for m in built.members.values())
    assert len(keys) == len(stored) == 100
    assert keys == sorted(keys)
    assert len({len(k) for k in keys}) == 1  # equal width: string order is rank order


def _tampered(body: bytes, change, *, rehash: bool) -> bytes:
    doc = json.loads(body)
    change(doc)
    if rehash:
        text = json.dumps(doc["input"])
        doc["hashes"]["publishedHash"] = canonical_hash(read_input(json.loads(text)))
    return json.dumps(doc).encode()


def _by_member(items: list[dict], key: str, member: str) -> dict:
    return next(item for item in items if item[key] == member)


@pytest.fixture
def example_1(graphql_as):
    """docs/voting-rules.md example 1 as published, with its member keys by case name."""
    built = build(load_case("semantics_example_1_tags_averaging_lobbyist"))
    body = download(graphql_as(None), built.decision)
    names = {m["name"]: m["key"] for m in json.loads(body)["members"]}
    keys = {case_id: names[display_name(m)] for case_id, m in built.members.items()}
    return body, keys


def _star(keys):
    def change(doc):
        ann = _by_member(doc["input"]["ballots"], "member", keys["ann"])
        park = next(c["id"] for c in doc["choices"] if c["title"] == "park")
        ann["stars"][park] = 4

    return change


def _following(keys):
    def change(doc):
        doc["input"]["followings"] = [
            f for f in doc["input"]["followings"] if f["follower"] != keys["cat"]
        ]

    return change


def _tag(keys):
    def change(doc):
        _by_member(doc["input"]["ballots"], "member", keys["ann"])["tags"] = ["schools"]

    return change


@pytest.mark.parametrize("tamper", [_star, _following, _tag], ids=["star", "following", "tag"])
def test_a_tampered_input_is_caught_by_the_hash(example_1, tamper) -> None:
    body, keys = example_1

    verdict = verify(read(_tampered(body, tamper(keys), rehash=False)))

    assert not verdict.ok
    assert verdict.lines[0].startswith("MISMATCH: first difference: published hash")


@pytest.mark.parametrize(
    ("tamper", "first_difference"),
    [
        (_star, ": stars for choice"),  # the engine's ballots still say 5
        (_following, "the file has a ballot, the recount gives none (abstains)"),  # cat
        (_tag, ": tags: the file says ['budget'], the recount gives ['schools']"),
    ],
    ids=["star", "following", "tag"],
)
def test_a_tampered_input_with_a_recomputed_hash_is_caught_by_the_recount(
    example_1, tamper, first_difference
) -> None:
    body, keys = example_1

    verdict = verify(read(_tampered(body, tamper(keys), rehash=True)))

    assert not verdict.ok
    assert verdict.lines[0].startswith("MISMATCH: first difference: ballot of m")
    assert first_difference in verdict.lines[0]


def test_a_changed_winner_is_caught(example_1) -> None:
    body, _ = example_1

    def change(doc):
        doc["result"]["winner"] = doc["result"]["finalists"][1]

    verdict = verify(read(_tampered(body, change, rehash=False)))

    assert verdict.lines == (
        "MISMATCH: first difference: result.winner: the file says "
        f"{json.loads(body)['result']['finalists'][1]!r}, the recount gives "
        f"{json.loads(body)['result']['winner']!r}",
    )


def test_a_changed_hash_is_caught(example_1) -> None:
    body, _ = example_1

    def change(doc):
        doc["hashes"]["publishedHash"] = hashlib.sha256(b"something else").hexdigest()

    verdict = verify(read(_tampered(body, change, rehash=False)))

    assert verdict.lines[0].startswith("MISMATCH: first difference: published hash")


def test_the_command_line_says_ok_mismatch_or_unreadable(example_1, tmp_path) -> None:
    body, _ = example_1
    good, bad, broken = tmp_path / "good.json", tmp_path / "bad.json", tmp_path / "broken.json"
    good.write_bytes(body)
    doc = json.loads(body)
    doc["result"]["tiebreaks"] = ["Scoring round: nothing happened"]
    bad.write_text(json.dumps(doc))
    broken.write_text("{not json")

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "crowdvote_verify", str(path)]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)

    ok, mismatch, unreadable = run(good), run(bad), run(broken)

    assert (ok.returncode, ok.stdout.splitlines()[0][:4]) == (0, "OK: ")
    assert doc["hashes"]["publishedHash"] in ok.stdout
    assert mismatch.returncode == 1
    assert mismatch.stdout.startswith("MISMATCH: first difference: result.tiebreaks")
    assert unreadable.returncode == 2
    assert unreadable.stderr.startswith("ERROR: cannot read")


def test_a_member_who_left_is_named_by_pseudonym_and_the_file_still_recounts(graphql_as) -> None:
    built = build(load_case("delegation_two_delegates_average"), anonymous=False)
    calculation = Calculation.objects.get(decision=built.decision)
    leaver = next(iter(built.members.values()))
    left_pk, username = leaver.pk, leaver.user.username
    leaver.delete()

    response = Client().get(f"/snapshots/{to_base64('Calculation', calculation.pk)}.json")
    text = response.content.decode()

    assert pseudonym(left_pk) in {m["name"] for m in json.loads(text)["members"]}
    assert f'"{username}"' not in text
    assert verify(read(response.content)).ok


def _renamed(explanation: Explanation, keys: dict[str, str]) -> Explanation:
    """Return an explanation tree with every member id replaced by its published key."""
    return replace(
        explanation,
        member=keys[explanation.member],
        sources=tuple(
            replace(
                s,
                delegate=keys[s.delegate],
                explanation=None if s.explanation is None else _renamed(s.explanation, keys),
            )
            for s in explanation.sources
        ),
    )


# One member follows twelve on equal order: explanations list them by member id.
WIDE = {
    "input": {
        "choices": ["x", "y"],
        "members": [{"id": f"d{i:02d}", "role": "VOTER"} for i in range(12)]
        + [{"id": "z", "role": "VOTER"}],
        "followings": [{"follower": "z", "followee": f"d{i:02d}", "tags": []} for i in range(12)],
        "ballots": [
            {"member": f"d{i:02d}", "stars": {"x": i % 6, "y": 5 - i % 6}} for i in range(12)
        ],
    },
    "expected": {},
}


def test_keys_sort_as_the_ids_they_replace_whatever_their_length() -> None:
    keys = member_keys(["9", "10", "100", "11"])

    assert keys == {"10": "m1", "100": "m2", "11": "m3", "9": "m4"}
    assert sorted(keys, key=keys.__getitem__) == sorted(keys)


@pytest.mark.parametrize(
    "case",
    [
        load_case("semantics_example_1_tags_averaging_lobbyist"),
        load_case("semantics_example_2_cycle_with_exits"),
        load_case("delegation_cycle_with_one_exit"),
        load_case("tie_three_share_first_lot_for_last_place"),
        WIDE,
    ],
    ids=["example_1", "example_2_cycle", "cycle_one_exit", "lot_last_place", "wide"],
)
def test_re_keyed_input_gives_the_stored_result_and_the_same_explanations(
    case: dict, graphql_as
) -> None:
    built = build(case)
    doc = json.loads(download(graphql_as(None), built.decision))
    calculation = Calculation.objects.get(decision=built.decision)
    stored = snapshot_load(calculation.pk)
    published = decision_from_json(doc["input"])
    titles = {c["id"]: c["title"] for c in doc["choices"]}

    again = tally_star(
        published,
        resolve_ballots(published),
        content_hash=calculation.content_hash,
        choice_titles=titles,
    )

    keys = member_keys(stored.member_ids)
    assert result_to_json(again) == doc["result"]
    influence = calculation.results["influence"]
    assert doc["result"] == {
        **calculation.results,
        "influence": [[keys[m], v] for m, v in influence],
    }
    stored_resolved, published_resolved = resolve_ballots(stored), resolve_ballots(published)
    for member in stored.member_ids:
        before = explain_ballot(stored, stored_resolved, member)
        after = explain_ballot(published, published_resolved, keys[member])
        assert (None if before is None else _renamed(before, keys)) == after, member


def test_a_snapshot_stored_as_changes_is_published_whole_and_recounts_ok(graphql_as) -> None:
    built = build(load_case("semantics_example_1_tags_averaging_lobbyist"))
    decision = built.decision
    voter = next(m for m in built.members.values() if m.ballots.filter(decision=decision).exists())
    choices = list(decision.choices.all())
    stars = [StarsSpec(c.pk, (i * 2) % 6) for i, c in enumerate(choices)]
    ballot_cast(user=voter.user, decision=decision, stars=stars, tags=voter.ballots.get().tags)
    [calculation] = decision_calculate(decision.pk)
    stored = StoredSnapshot.objects.get(pk=calculation.pk)
    assert (stored.depth, bytes(stored.canonical)) == (1, b"")  # only what changed
    calc.results._cache.entries.clear()  # as in a process that did not calculate it

    body = download(graphql_as(None), decision)

    verdict = verify(read(body))
    assert verdict.ok, verdict.lines
    assert json.loads(body)["hashes"]["contentHash"] == calculation.content_hash
