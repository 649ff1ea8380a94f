"""``manage.py seed_demo``: the demo communities, created once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from democracy.models import Community, Decision, DecisionStatus, Membership, Role

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_seed_demo_builds_believable_communities_once():
    out = run("seed_demo", "--if-empty")
    assert "Demo data created: Riverside Commons, Harbour Cycling Guild." in out
    assert "Authorization: Bearer cv_" in out
    assert Community.objects.count() == 2
    assert Membership.objects.filter(is_anonymous=True).exists()
    assert Membership.objects.filter(role=Role.LOBBYIST).count() == 2
    assert Membership.objects.filter(is_manager=True).count() == 2
    assert Decision.objects.filter(status=DecisionStatus.OPEN).count() == 2
    assert Decision.objects.filter(status=DecisionStatus.CLOSED).count() == 1
    assert "kept as is" in run("seed_demo", "--if-empty")
    assert Community.objects.count() == 2
