"""``manage.py bench_latency``: a tiny embedded run end to end."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command


@pytest.mark.e2e
def test_a_tiny_embedded_run_reports_latencies() -> None:
    out = io.StringIO()
    call_command(
        "bench_latency",
        "--members",
        "50",
        "--ballots",
        "3",
        "--choices",
        "3",
        "--restart",
        "--json",
        stdout=out,
    )
    report = json.loads(out.getvalue())
    assert report["setup"] == "embedded"
    assert report["members"] == 51  # The 50 generated and the voter who casts.
    assert report["ballots"] == len(report["latencies_ms"]) == 3
    assert 0 <= report["median_ms"] <= report["p95_ms"] <= report["max_ms"] < 30_000
    assert report["followings"] > 0
    # The voter's ballots after the first are stored as what changed, a small part of a
    # whole snapshot; the worker runs in the server process here.
    assert 0 < report["stored_bytes_per_calculation"] < report["whole_snapshot_bytes"] / 4
    assert 20 < report["peak_rss_mb"] < 4_000
    # The server was killed and started again, and still counted one more ballot.
    assert 0 < report["restart_result_ms"] < 30_000
