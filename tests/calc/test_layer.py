"""Redis outages as a process meets them: skipped sends, one line each way, work goes on."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.test import override_settings
from redis.exceptions import ConnectionError as RedisConnectionError

import calc.layer
from calc.layer import LayerHealth, send_or_skip
from calc.models import Calculation, CalculationStatus
from calc.services import decision_calculate
from calc.worker import CalcWorker
from democracy.models import Ballot
from democracy.services.ballots import StarsSpec, ballot_cast
from devtools.benchsetup import free_port
from tests.e2e.test_faults import RedisServer
from tests.factories import DecisionFactory, MembershipFactory


@pytest.fixture(autouse=True)
def health(monkeypatch: pytest.MonkeyPatch) -> LayerHealth:
    fresh = LayerHealth()
    monkeypatch.setattr(calc.layer, "health", fresh)
    return fresh


@pytest.fixture
def redis_away() -> Iterator[None]:
    """A Redis channel layer whose server is not there (nothing listens on its port)."""
    address = f"redis://127.0.0.1:{free_port()}/0"
    hosts = [{"address": address, "socket_timeout": None, "socket_connect_timeout": 2}]
    config = {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": hosts}}
    with override_settings(CHANNEL_LAYERS={"default": config}):
        yield


class Flaky:
    """An async layer call that fails while ``down`` and counts its attempts."""

    def __init__(self) -> None:
        self.down = True
        self.attempts = 0

    async def __call__(self, *args: Any) -> None:
        self.attempts += 1
        if self.down:
            raise RedisConnectionError(
                "Error 111 connecting to 127.0.0.1:6379. Connection refused."
            )


def lines(caplog: pytest.LogCaptureFixture, event: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if getattr(r, "event", "") == event]


def test_an_outage_is_logged_once_each_way_and_sends_are_skipped_meanwhile(
    caplog, monkeypatch, health
):
    caplog.set_level(logging.WARNING, logger="crowdvote.layer")
    clock = [100.0]
    monkeypatch.setattr(calc.layer.time, "monotonic", lambda: clock[0])
    send = Flaky()

    assert [send_or_skip(send, "calc", {}) for _ in range(50)] == [False] * 50
    assert send.attempts == 1  # The others were skipped: nothing waits on a dead Redis.
    clock[0] += 1.0
    assert send_or_skip(send, "calc", {}) is False
    assert send.attempts == 2
    send.down = False
    assert send_or_skip(send, "calc", {}) is False  # Within the second: skipped.
    clock[0] += 1.0
    assert send_or_skip(send, "calc", {}) is True
    assert send_or_skip(send, "calc", {}) is True

    [down] = lines(caplog, "REDIS_DOWN")
    assert "Redis is unreachable (Error 111 connecting" in down
    assert "calculations go on" in down
    assert lines(caplog, "REDIS_BACK") == ["Redis is back after 2.0 s: live updates resume"]
    assert not any(r.exc_info for r in caplog.records)
    assert health.up


@pytest.mark.django_db(transaction=True)
def test_ballots_are_stored_and_calculated_while_redis_is_away(redis_away, caplog):
    caplog.set_level(logging.WARNING, logger="crowdvote.layer")
    assert get_channel_layer().__class__.__name__ == "RedisChannelLayer"
    decision = DecisionFactory(choices=["Park", "Road"])
    voter = MembershipFactory(community=decision.community)
    stars = [StarsSpec(choice_id=c.pk, stars=4) for c in decision.choices.all()]

    ballot_cast(user=voter.user, decision=decision, stars=stars)  # Wake-up: skipped.
    [calculation] = decision_calculate(decision.pk)  # What the sweeper does meanwhile.

    assert Ballot.objects.filter(decision=decision).count() == 1
    assert calculation.status == CalculationStatus.COMPLETED
    assert calculation.results["participation"]["countedBallots"] == 1
    assert Calculation.objects.filter(status=CalculationStatus.FAILED).count() == 0
    assert len(lines(caplog, "REDIS_DOWN")) == 1
    assert not any(r.exc_info for r in caplog.records)


def test_a_worker_s_listener_waits_for_redis_instead_of_dying(redis_away):
    layer = get_channel_layer()

    async def listen_briefly() -> bool:
        worker = CalcWorker(application=None, channels=["calc"], channel_layer=layer)
        listener = asyncio.ensure_future(worker.listener("calc"))
        await asyncio.sleep(1.0)
        alive = not listener.done()
        listener.cancel()
        watch = calc.layer.layer_watch(layer)
        assert watch is not None
        watch.task.cancel()
        return alive

    assert async_to_sync(listen_briefly)()
    assert not calc.layer.health.up


class Returns:
    """A watcher that counts how often it was told Redis is back."""

    def __init__(self) -> None:
        self.calls = 0

    async def layer_returned(self) -> None:
        self.calls += 1


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is not installed")
def test_a_quick_restart_makes_sockets_rejoin_once(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    try:
        layer = RedisChannelLayer(hosts=[{"address": server.url, "socket_timeout": 15}])

        async def restart_between_probes() -> int:
            watch = calc.layer.layer_watch(layer)
            assert watch is not None
            watcher = Returns()
            watch.watchers.add(watcher)
            await asyncio.sleep(0.5)  # The first probe has seen this server's run id.
            server.kill()
            server.start()  # Back within a fraction of a second: every group is lost.
            for _ in range(50):
                if watcher.calls:
                    break
                await asyncio.sleep(0.1)
            watch.task.cancel()
            return watcher.calls

        assert async_to_sync(restart_between_probes)() == 1
    finally:
        server.kill()
