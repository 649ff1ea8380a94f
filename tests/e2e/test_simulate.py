"""`simulate` moves the demo's results through a real server."""

from __future__ import annotations

import pytest
from strawberry.relay import to_base64

from tests.e2e.conftest import HttpGraphQL, ServerProcess

pytestmark = pytest.mark.e2e

SNAPSHOTS = """query($id: ID!) { decision(id: $id) { snapshots { totalCount }
  results { participation { directBallots } } } }"""


def test_simulation_casts_through_the_api_and_results_follow(embedded: ServerProcess) -> None:
    embedded.manage("seed_demo")
    port = embedded.start("serve")
    api = HttpGraphQL(f"http://127.0.0.1:{port}/graphql")
    token = embedded.tokens("alice")["alice"]
    budget = to_base64("Decision", 1)
    before = api(SNAPSHOTS, token, id=budget)["decision"]["snapshots"]["totalCount"]

    out = embedded.manage(
        "simulate",
        "--rate",
        "20",
        "--seconds",
        "2",
        "--seed",
        "7",
        "--url",
        f"http://127.0.0.1:{port}/graphql",
    )
    lines = [line for line in out.splitlines() if ": " in line]
    assert len(lines) >= 30
    assert sum(line.endswith(": ok") for line in lines) >= len(lines) // 2
    assert any(" votes on 'Spend the 2027 park budget'" in line for line in lines)

    after = api(SNAPSHOTS, token, id=budget)["decision"]["snapshots"]["totalCount"]
    assert after > before
