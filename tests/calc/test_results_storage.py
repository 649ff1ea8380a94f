"""A calculation's result is stored as the JSON text written, on every database."""

from __future__ import annotations

import pytest
from django.core import serializers
from django.db import connection

from calc.models import Calculation
from tests.factories import DecisionFactory

pytestmark = pytest.mark.django_db


def raw_results(pk: int) -> object:
    with connection.cursor() as cursor:
        cursor.execute("SELECT results FROM calc_calculation WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_results_come_back_as_written_keys_in_order() -> None:
    written = {"winner": "2", "scores": [{"choice": "2", "totalStars": "7.50000000"}], "a": None}
    calculation = Calculation.objects.create(
        decision=DecisionFactory(), trigger="test", results=written
    )
    assert raw_results(calculation.pk) == (
        '{"winner":"2","scores":[{"choice":"2","totalStars":"7.50000000"}],"a":null}'
    )
    stored = Calculation.objects.get(pk=calculation.pk).results
    assert stored == written
    assert list(stored) == ["winner", "scores", "a"]  # jsonb would have sorted them


def test_no_results_is_null() -> None:
    calculation = Calculation.objects.create(decision=DecisionFactory(), trigger="test")
    assert raw_results(calculation.pk) is None
    assert Calculation.objects.get(pk=calculation.pk).results is None
    Calculation.objects.filter(pk=calculation.pk).update(results={"winner": None})
    assert Calculation.objects.get(pk=calculation.pk).results == {"winner": None}


def test_results_survive_dumpdata_and_loaddata() -> None:
    written = {"winner": "2", "scores": [], "influence": [["7", "2.00000000"]]}
    calculation = Calculation.objects.create(
        decision=DecisionFactory(), trigger="test", results=written
    )
    dumped = serializers.serialize("json", [calculation])
    assert '"results": "{\\"winner\\":\\"2\\"' in dumped  # the stored text, as text
    Calculation.objects.filter(pk=calculation.pk).update(results=None)
    for restored in serializers.deserialize("json", dumped):
        restored.save()
    assert Calculation.objects.get(pk=calculation.pk).results == written
