"""Calculations in the admin: listed and readable, never editable."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calc.models import Calculation
from calc.services import decision_calculate
from tests.factories import BallotFactory

pytestmark = pytest.mark.django_db


def test_calculation_history_is_readable_and_read_only(admin_client):
    ballot = BallotFactory(stars={"Yes": 4})
    (calculation,) = decision_calculate(ballot.decision_id)
    listing = admin_client.get(reverse("admin:calc_calculation_changelist"))
    assert listing.status_code == 200
    assert calculation.trigger in listing.content.decode()
    page = admin_client.get(reverse("admin:calc_calculation_change", args=[calculation.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert calculation.content_hash in body
    assert "Snapshot stored" in body
    stored = calculation.stored_snapshot
    assert f">{len(stored.canonical) + len(stored.columns)}<" in body
    assert body.count("&quot;contentHash&quot;: &quot;") == 1  # the results, once, as JSON
    assert admin_client.get(reverse("admin:calc_calculation_add")).status_code == 403
    admin_client.post(
        reverse("admin:calc_calculation_change", args=[calculation.pk]), {"trigger": "edited"}
    )
    assert Calculation.objects.get(pk=calculation.pk).trigger != "edited"
    delete = reverse("admin:calc_calculation_delete", args=[calculation.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Calculation.objects.filter(pk=calculation.pk).exists()
