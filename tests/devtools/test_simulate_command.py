"""The simulate command refuses what it cannot do, in words."""

from __future__ import annotations

import socket

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiToken
from devtools.simulation import Simulation, paced
from tests.factories import BallotFactory, DecisionFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_rate_must_be_positive():
    with pytest.raises(CommandError, match="--rate must be above 0"):
        call_command("simulate", "--rate", "0")


def test_nothing_to_simulate_without_open_decisions():
    with pytest.raises(CommandError, match="No open decision"):
        call_command("simulate", "--seconds", "0.1")


def test_unreachable_server_is_named_and_tokens_are_revoked():
    decision = DecisionFactory()
    MembershipFactory(community=decision.community)
    url = f"http://127.0.0.1:{closed_port()}/graphql"
    with pytest.raises(CommandError, match="did not answer"):
        call_command("simulate", "--url", url, "--seconds", "1", "--rate", "5")
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 0


def test_same_seed_gives_the_same_actions():
    decision = DecisionFactory(choices=["a", "b", "c"])
    for _ in range(3):
        BallotFactory(decision=decision)

    def actions(seed: int) -> list[tuple[str, str]]:
        simulation = Simulation(url="http://unused", seed=seed)
        try:
            return [
                (a.description, str(a.variables))
                for a in (simulation.next_action() for _ in range(20))
            ]
        finally:
            simulation.close()

    assert actions(3) == actions(3)
    assert actions(3) != actions(4)


def test_paced_keeps_the_rate_and_stops_on_time():
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    assert list(paced(10, 1.0, clock=lambda: now[0], sleep=sleep)) == list(range(10))
    assert slept == [0.1] * 9
    assert now[0] == pytest.approx(100.9)
