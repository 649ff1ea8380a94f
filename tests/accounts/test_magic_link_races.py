"""Concurrent sign-in link requests, as real PostgreSQL transactions, never pass the limits."""

from __future__ import annotations

import pytest

from accounts.errors import AccountErrorCode
from accounts.models import MagicLink
from accounts.services.magic_links import magic_link_request
from core.errors import DomainError
from tests.concurrency import require_postgres, run_together

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS = 30


def assert_rest_rate_limited(outcomes: list[object], allowed: int) -> None:
    assert outcomes.count(None) == allowed, outcomes
    refused = [outcome for outcome in outcomes if outcome is not None]
    assert all(isinstance(outcome, DomainError) for outcome in refused), refused
    assert {outcome.code for outcome in refused} == {AccountErrorCode.RATE_LIMITED}  # type: ignore[union-attr]


def test_concurrent_requests_for_one_address_stay_within_its_limit(settings):
    require_postgres()
    settings.MAGIC_LINK_MAX_PER_ADDRESS = 5

    outcomes = run_together(
        REQUESTS,
        lambda i: magic_link_request(email="ann@example.org", ip=f"192.0.2.{i + 1}"),
    )

    assert MagicLink.objects.filter(email="ann@example.org").count() == 5
    assert_rest_rate_limited(outcomes, allowed=5)


def test_concurrent_requests_from_one_client_address_stay_within_its_limit(settings):
    require_postgres()
    settings.MAGIC_LINK_MAX_PER_IP = 10

    outcomes = run_together(
        REQUESTS, lambda i: magic_link_request(email=f"user{i}@example.org", ip="192.0.2.7")
    )

    assert MagicLink.objects.filter(requested_ip="192.0.2.7").count() == 10
    assert_rest_rate_limited(outcomes, allowed=10)
