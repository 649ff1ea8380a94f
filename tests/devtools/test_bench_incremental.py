"""``bench_incremental`` times single-ballot changes and checks them against a full run."""

from __future__ import annotations

import io
import json

import pytest

from devtools import bench_incremental
from tests.devtools.test_bench_command import _django_ready


def test_the_module_reports_identical_output_in_json() -> None:
    out = io.StringIO()
    code = bench_incremental.main(
        ["--members", "5000", "--choices", "3", "--changes", "3", "--json"], out
    )
    report = json.loads(out.getvalue())
    assert code == 0
    assert report["identical"] is True
    assert report["members"] == 5000
    assert report["changes"] == 3
    assert set(report["modes"]) <= {"stars", "input", "full"}
    assert "full" in report["modes"]  # the first ballot
    assert report["first_cast_ms"] > 0
    assert report["full_ms"] > 0


@pytest.mark.skipif(not _django_ready(), reason="Django settings are not available")
def test_the_command_prints_a_summary_and_refuses_zero_members() -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    call_command("bench_incremental", "--members", "400", "--changes", "2", stdout=out)
    assert "identical True" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("bench_incremental", "--members", "0", stdout=io.StringIO())
