"""Bulk seeding of a synthetic community: what it stores equals what the generator describes."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from calc.engine import content_hash, resolve_ballots, tally_star
from calc.models import Calculation, CalculationStatus, Change
from calc.result_json import result_to_json
from calc.snapshot import snapshot_read
from democracy.models import Decision, Membership
from devtools.bench import generate
from devtools.seeding import synthetic_seed

pytestmark = pytest.mark.django_db(transaction=True)


def _scores(frozen, titles=None):
    result = result_to_json(
        tally_star(frozen, resolve_ballots(frozen), content_hash=content_hash(frozen))
    )
    rename = titles or {}
    return (
        sorted((rename.get(s["choice"], s["choice"]), s["totalStars"]) for s in result["scores"]),
        result["participation"],
    )


def test_the_seeded_decision_tallies_like_the_generated_one() -> None:
    seeded = synthetic_seed(members=300, choices=4, seed=7, extra_members=["bench"])
    snapshot = snapshot_read(seeded.decision_id)
    generated = generate(300, 4, 7)
    assert snapshot.frozen.follow_src.size == len(generated.followings) == seeded.followings
    assert snapshot.frozen.ballot_member.size == len(generated.ballots) == seeded.direct_ballots
    seeded_scores, seeded_participation = _scores(snapshot.frozen, snapshot.choice_titles)
    generated_scores, generated_participation = _scores(generated)
    assert seeded_scores == generated_scores
    # The extra member counts as a member who abstains.
    assert seeded_participation["members"] == generated_participation["members"] + 1
    assert seeded_participation["abstentions"] == generated_participation["abstentions"] + 1


def test_seeding_queues_one_recalculation_and_adds_extra_members() -> None:
    seeded = synthetic_seed(members=50, choices=2, extra_members=["bench", "other", "bench"])
    decision = Decision.objects.get(pk=seeded.decision_id)
    assert decision.status == "OPEN"
    assert Change.objects.filter(decision=decision).count() == 1
    queued = Calculation.objects.filter(decision=decision)
    assert [c.status for c in queued] == [CalculationStatus.QUEUED]
    extra = Membership.objects.filter(community_id=seeded.community_id, user__username="bench")
    assert extra.get().is_manager
    assert seeded.members == 52
    assert not Membership.objects.get(
        community_id=seeded.community_id, user__username="other"
    ).is_manager


def test_seed_synthetic_prints_json() -> None:
    out = io.StringIO()
    call_command("seed_synthetic", "--members", "20", "--choices", "3", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["members"] == 20
    assert report["choices"] == 3
    assert Decision.objects.filter(pk=report["decision_id"]).exists()


def test_seed_synthetic_refuses_an_empty_community() -> None:
    with pytest.raises(CommandError, match="at least 1"):
        call_command("seed_synthetic", "--members", "0")
