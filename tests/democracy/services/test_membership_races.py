"""Managers leaving or stepping down at the same moment, as real PostgreSQL transactions.

Each trial releases two transactions together; without the community row lock both see the
other as the remaining manager and both succeed, leaving a community nobody can manage.
"""

from __future__ import annotations

import pytest

from core.errors import DomainError, Forbidden
from democracy.models import Membership
from democracy.services.memberships import membership_leave, membership_update
from tests.concurrency import require_postgres, run_together
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)

TRIALS = range(15)


@pytest.fixture
def managers() -> list[Membership]:
    """Two managers of one community, which has one more member."""
    require_postgres()
    first = MembershipFactory(is_manager=True)
    second = MembershipFactory(community=first.community, is_manager=True)
    MembershipFactory(community=first.community)
    return [first, second]


def managers_left(managers: list[Membership]) -> int:
    return Membership.objects.filter(community=managers[0].community, is_manager=True).count()


def assert_one_refused_as_last_manager(outcomes: list[object]) -> None:
    refused = [outcome for outcome in outcomes if isinstance(outcome, DomainError)]
    assert len(refused) == 1, outcomes
    assert refused[0].code == "LAST_MANAGER"
    assert "manager first" in refused[0].message
    assert [outcome for outcome in outcomes if outcome is not refused[0]] == [None]


@pytest.mark.parametrize("trial", TRIALS)
def test_two_managers_leaving_at_once_leave_one_manager(managers, trial):
    community = managers[0].community

    outcomes = run_together(
        2, lambda i: membership_leave(user=managers[i].user, community=community)
    )

    assert_one_refused_as_last_manager(outcomes)
    assert managers_left(managers) == 1
    assert Membership.objects.filter(community=community).count() == 2


@pytest.mark.parametrize("trial", TRIALS)
def test_two_managers_demoting_each_other_at_once_leave_one_manager(managers, trial):
    def demote_the_other(i: int) -> None:
        membership_update(user=managers[i].user, membership=managers[1 - i], is_manager=False)

    outcomes = run_together(2, demote_the_other)

    # The second to act is no longer a manager by then, so may not change anyone.
    assert outcomes.count(None) == 1, outcomes
    assert [type(outcome) for outcome in outcomes if outcome is not None] == [Forbidden]
    assert managers_left(managers) == 1


@pytest.mark.parametrize("trial", TRIALS)
def test_one_manager_leaving_as_the_other_steps_down_leaves_one_manager(managers, trial):
    def leave_or_step_down(i: int) -> None:
        if i == 0:
            membership_leave(user=managers[0].user, community=managers[0].community)
        else:
            membership_update(user=managers[1].user, membership=managers[1], is_manager=False)

    assert_one_refused_as_last_manager(run_together(2, leave_or_step_down))
    assert managers_left(managers) == 1
