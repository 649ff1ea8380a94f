"""Benchmarks start their servers as production runs them, whatever their own command needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.benchsetup import distributed_env, embedded_env


def test_servers_run_without_debug_and_with_a_secret_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEBUG", "1")  # as `DEBUG=1 ./manage.py bench_ballots` sets it

    embedded = embedded_env(tmp_path)
    distributed = distributed_env(
        tmp_path, database_url="postgres://db", redis_url="redis://r", redis_prefix="p"
    )

    for env in (embedded, distributed):
        assert "DEBUG" not in env
        assert env["SECRET_KEY"]
