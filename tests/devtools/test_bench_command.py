"""``manage.py bench_calc`` parses its options and prints the benchmark report."""

from __future__ import annotations

import importlib
import io
import json

import pytest


def _django_ready() -> bool:
    try:
        importlib.import_module("crowdvote.settings")
        from django.conf import settings

        return bool(settings.configured)
    except Exception:  # noqa: BLE001 - any failure means the project cannot run commands
        return False


pytestmark = pytest.mark.skipif(not _django_ready(), reason="Django settings are not available")


def test_bench_calc_prints_one_json_object() -> None:
    from django.core.management import call_command

    out = io.StringIO()
    call_command("bench_calc", "--members", "300", "--choices", "3", "--json", stdout=out)
    report = json.loads(out.getvalue())
    for key in (
        "members",
        "followings",
        "choices",
        "resolve_ms",
        "tally_ms",
        "total_ms",
        "peak_rss_mb",
    ):
        assert key in report
    assert report["members"] == 300
    assert report["choices"] == 3


def test_bench_calc_compares_with_the_reference() -> None:
    from django.core.management import call_command

    out = io.StringIO()
    call_command("bench_calc", "--members", "200", "--compare-reference", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["reference_agrees"] is True
    assert report["speedup"] > 0


def test_bench_calc_refuses_zero_members() -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("bench_calc", "--members", "0", stdout=io.StringIO())
