"""``manage.py bench_fanout``: a tiny embedded run end to end."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command


@pytest.mark.e2e
def test_a_tiny_embedded_run_reaches_every_subscriber() -> None:
    out = io.StringIO()
    call_command("bench_fanout", "--subscribers", "20", "--ballots", "2", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert (report["setup"], report["servers"]) == ("embedded", 1)
    assert report["connected"] == 20
    assert report["events_expected"] == report["events_received"] == 40
    assert report["events_missing"] == 0
    assert 0 <= report["p50_ms"] <= report["p95_ms"] <= report["p99_ms"] <= report["max_ms"]
    assert report["server_cpu_seconds_per_result"] >= 0
    assert report["server_kb_per_idle_subscriber"] > 0
