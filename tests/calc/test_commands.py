"""Operator commands: recalculate, prune_calculations."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

import calc.services
from calc.models import Calculation, CalculationStatus, Change
from calc.queue import request_recalculation
from calc.services import decision_calculate
from democracy.models import DecisionStatus
from tests.factories import BallotFactory, DecisionFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_recalculate_queues_one_decision():
    decision = DecisionFactory()
    decision_calculate(decision.pk)
    assert "Queued 1 decision(s)" in run("recalculate", "--decision", str(decision.pk))
    assert Calculation.objects.get(decision=decision, status=CalculationStatus.QUEUED).trigger == (
        "Operator request"
    )


def test_recalculate_a_community_skips_drafts_and_other_communities():
    open_one = DecisionFactory()
    DecisionFactory(community=open_one.community, status=DecisionStatus.DRAFT)
    elsewhere = DecisionFactory()
    before = elsewhere.calc_requested_gen
    assert "Queued 1 decision(s)" in run("recalculate", "--community", str(open_one.community_id))
    elsewhere.refresh_from_db()
    assert elsewhere.calc_requested_gen == before


def test_recalculate_all_and_nothing_to_do():
    with pytest.raises(CommandError, match="No published decision"):
        run("recalculate", "--all")
    DecisionFactory()
    DecisionFactory()
    assert "Queued 2 decision(s)" in run("recalculate", "--all")


def test_prune_keeps_final_and_latest_results():
    ballot = BallotFactory(stars={"Yes": 5})
    decision_id = ballot.decision_id
    first = decision_calculate(decision_id)[0]
    run("recalculate", "--decision", str(decision_id))
    latest = decision_calculate(decision_id)[0]
    Calculation.objects.update(requested_at=timezone.now() - timedelta(days=40))
    assert "Would delete 1 calculation(s)" in run("prune_calculations", "--dry-run")
    assert Calculation.objects.count() == 2
    assert "Deleted 1 calculation(s) older than 30 days" in run("prune_calculations")
    assert list(Calculation.objects.values_list("pk", flat=True)) == [latest.pk]
    assert not Calculation.objects.filter(pk=first.pk).exists()


def test_prune_removes_old_absorbed_calculations(monkeypatch):
    decision = BallotFactory(stars={"Yes": 5}).decision
    original = calc.services.generation_stamped
    late: list[Calculation] = []

    def stamp_after_a_change(decision_id: int, calculation: Calculation):
        if not late:
            late.extend(
                request_recalculation(
                    community_id=decision.community_id, trigger="late", decision_ids=[decision_id]
                )
            )
        return original(decision_id, calculation)

    monkeypatch.setattr(calc.services, "generation_stamped", stamp_after_a_change)
    [latest] = decision_calculate(decision.pk)
    assert Calculation.objects.get(pk=late[0].pk).status == CalculationStatus.ABSORBED
    Calculation.objects.update(requested_at=timezone.now() - timedelta(days=40))

    assert "Deleted 1 calculation(s)" in run("prune_calculations")
    assert list(Calculation.objects.values_list("pk", flat=True)) == [latest.pk]


def test_prune_deletes_old_logged_changes_only_where_the_latest_result_counts_them():
    decision = BallotFactory(stars={"Yes": 5}).decision
    [done] = decision_calculate(decision.pk)
    counted = set(Change.objects.filter(decision=decision).values_list("pk", flat=True))
    assert counted
    assert done.generation is not None
    ahead = Change.objects.create(decision=decision, generation=done.generation + 1, kind="WHOLE")
    waiting = Change.objects.create(decision=decision, kind="WHOLE")
    Change.objects.update(created_at=timezone.now() - timedelta(days=40))
    recent = Change.objects.create(decision=decision, generation=done.generation, kind="WHOLE")

    said = run("prune_calculations", "--dry-run")
    assert f"Would delete 0 calculation(s) older than 30 days, and {len(counted)} logged" in said
    assert Change.objects.filter(pk__in=counted).count() == len(counted)
    said = run("prune_calculations")
    assert f"and {len(counted)} logged change(s)" in said

    assert set(Change.objects.values_list("pk", flat=True)) == {ahead.pk, waiting.pk, recent.pk}
    [again] = decision_calculate(decision.pk)  # what the log lost is read whole
    assert again.status == CalculationStatus.COMPLETED
    assert again.results["participation"]["directBallots"] == 1
