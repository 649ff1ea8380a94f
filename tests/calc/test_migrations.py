"""Stored snapshots move to their own table and stay readable."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from calc.engine import content_hash, decision_to_json
from calc.services import decision_calculate
from calc.snapshot import snapshot_load
from tests.factories import BallotFactory, DecisionFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("calc", "0002_calculation_change_count")]
AFTER = [("calc", "0003_stored_snapshot")]


def migrate(target):  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def test_snapshots_stored_in_the_calculation_row_move_to_their_own_table() -> None:
    decision = DecisionFactory(choices=["Park", "Road"])
    BallotFactory(decision=decision, stars={"Park": 5, "Road": 2})
    [calculation] = decision_calculate(decision.pk)
    canonical = bytes(calculation.stored_snapshot.canonical)
    expected = decision_to_json(snapshot_load(calculation.pk))
    try:
        old = migrate(BEFORE)
        # Back in the old layout the canonical JSON sits in the calculation row.
        row = old.get_model("calc", "Calculation").objects.get(pk=calculation.pk)
        assert bytes(row.snapshot) == canonical
        migrate(AFTER)
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())  # back to the newest
    stored = type(calculation.stored_snapshot).objects.get(pk=calculation.pk)
    assert bytes(stored.canonical) == canonical
    assert bytes(stored.columns) == b""  # read through the canonical JSON from now on
    moved = snapshot_load(calculation.pk)
    assert decision_to_json(moved) == expected
    assert content_hash(moved) == calculation.content_hash
