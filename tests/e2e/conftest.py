"""Real servers for end-to-end tests: embedded `serve`, or daphne + workers on PostgreSQL/Redis.

The process helpers live in devtools.benchsetup, which `manage.py bench_latency` shares.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from devtools.benchsetup import (
    HttpGraphQL,
    ServerProcess,
    distributed_env,
    embedded_env,
    free_port,
    new_redis_prefix,
    postgres_url,
    redis_prefix_delete,
    redis_url,
    services_missing,
    temporary_database,
    wait_for_port,
)

__all__ = [
    "Distributed",
    "HttpGraphQL",
    "ServerProcess",
    "free_port",
    "skip_or_fail",
    "wait_for_port",
]

# The sweeper notices a killed worker's expired lease (6 s by default) within a second.
DISTRIBUTED_SETTINGS = {
    "CALC_SWEEP_SECONDS": "1",
    "CALC_RETRY_BACKOFF_SECONDS": "1",
}


def skip_or_fail(problem: str, *, test: str) -> NoReturn:
    """Skip a test whose tools or services are missing here, saying why, or fail it under
    CROWDVOTE_REQUIRE_SERVICES=1 (CI), where everything must be there."""
    if os.environ.get("CROWDVOTE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"CROWDVOTE_REQUIRE_SERVICES=1 but {problem}", pytrace=False)
    print(f"skipping {test}: {problem}")
    pytest.skip(problem)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[ServerProcess]:
    """An embedded CrowdVote (SQLite, in-memory layer) served by `manage.py serve`."""
    server = ServerProcess(env=embedded_env(tmp_path), workdir=tmp_path)
    server.manage("migrate", "--no-input")
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class DistributedServices:
    database_url: str
    redis_url: str
    redis_prefix: str


@pytest.fixture(scope="module")
def distributed_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributedServices]:
    """A fresh, migrated PostgreSQL database and a Redis prefix for this test module.

    Skips when PostgreSQL or Redis is unreachable, unless CROWDVOTE_REQUIRE_SERVICES=1 (CI),
    which turns that into a failure.
    """
    admin, redis = postgres_url(), redis_url()
    problem = services_missing(admin, redis)
    if problem:
        skip_or_fail(problem, test="distributed test")
    prefix = new_redis_prefix()
    with temporary_database(admin) as url:
        services = DistributedServices(url, redis, prefix)
        workdir = tmp_path_factory.mktemp("migrate")
        env = distributed_env(workdir, database_url=url, redis_url=redis, redis_prefix=prefix)
        ServerProcess(env=env, workdir=workdir).manage("migrate", "--no-input")
        try:
            yield services
        finally:
            redis_prefix_delete(redis, prefix)


class Distributed(ServerProcess):
    """Daphne servers and `runworker calc` processes sharing one database and one Redis."""

    database_url: str

    def servers(self, count: int = 2) -> list[HttpGraphQL]:
        """Start ``count`` daphne processes; return a GraphQL client for each."""
        return [
            HttpGraphQL(f"http://127.0.0.1:{self.start_daphne()}/graphql") for _ in range(count)
        ]

    def workers(self, count: int = 2, **env: str) -> list[int]:
        """Start ``count`` workers; return their pids."""
        return [self.start_worker(f"worker-{i}", **env).pid for i in range(count)]


@pytest.fixture
def distributed(distributed_services: DistributedServices, tmp_path: Path) -> Iterator[Distributed]:
    """A distributed CrowdVote on the module's database; the test starts what it needs."""
    env = distributed_env(
        tmp_path,
        database_url=distributed_services.database_url,
        redis_url=distributed_services.redis_url,
        redis_prefix=distributed_services.redis_prefix,
        **DISTRIBUTED_SETTINGS,
    )
    cluster = Distributed(env=env, workdir=tmp_path)
    cluster.database_url = distributed_services.database_url
    try:
        yield cluster
    finally:
        cluster.stop()
