"""Who may download a snapshot, and ``Calculation.snapshotUrl``/``snapshotHash`` in the API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from strawberry.relay import to_base64

from calc.models import Calculation, CalculationStatus, StoredSnapshot
from calc.services import decision_calculate
from democracy.models import Decision, DecisionStatus, Role
from tests.factories import (
    ApiTokenFactory,
    BallotFactory,
    CommunityFactory,
    DecisionFactory,
    MembershipFactory,
    UserFactory,
)
from tests.schema.conftest import gid
from tests.verify.support import SNAPSHOT_URL

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def calculated(*, public: bool) -> Calculation:
    community = CommunityFactory(results_are_public=public)
    decision = DecisionFactory(community=community, choices=["park", "road"])
    BallotFactory(decision=decision, stars={"park": 5})
    decision_calculate(decision.pk)
    return Calculation.objects.get(decision=decision, status=CalculationStatus.COMPLETED)


def url_of(calculation: Calculation) -> str:
    return f"/snapshots/{to_base64('Calculation', calculation.pk)}.json"


def assert_not_found(response) -> None:
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {
            "code": "NOT_FOUND",
            "message": "No snapshot has this ID, or you cannot see it: sign in as a member.",
        }
    }


def test_anyone_downloads_the_snapshot_of_a_public_community() -> None:
    calculation = calculated(public=True)

    response = Client().get(url_of(calculation))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="crowdvote-calculation-{calculation.pk}.json"'
    )
    assert "no-store" in response["Cache-Control"]
    assert json.loads(response.content)["calculation"]["id"] == to_base64(
        "Calculation", calculation.pk
    )


def test_a_private_community_s_snapshot_is_for_its_approved_members_only() -> None:
    calculation = calculated(public=False)
    community = calculation.decision.community
    member = MembershipFactory(community=community).user
    lobbyist = MembershipFactory(community=community, role=Role.LOBBYIST).user
    manager = MembershipFactory(community=community, is_manager=True).user
    pending = MembershipFactory(community=community, is_approved=False).user
    outsider = UserFactory()
    token = ApiTokenFactory(user=member, token="cv_test-verify-member")

    def as_user(user) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    for user in (member, lobbyist, manager):
        assert as_user(user).get(url_of(calculation)).status_code == 200
    bearer = {"HTTP_AUTHORIZATION": "Bearer cv_test-verify-member"}
    assert token.user == member
    assert Client().get(url_of(calculation), **bearer).status_code == 200
    for user in (None, pending, outsider):
        assert_not_found(as_user(user).get(url_of(calculation)))
    assert_not_found(Client().get(url_of(calculation), HTTP_AUTHORIZATION="Bearer cv_wrong"))


def test_unknown_unfinished_and_malformed_ids_get_the_same_404() -> None:
    calculation = calculated(public=True)
    queued = Calculation.objects.create(decision=calculation.decision, trigger="test")

    for path in (
        url_of(queued),
        f"/snapshots/{to_base64('Calculation', 999999)}.json",
        f"/snapshots/{to_base64('Decision', calculation.decision_id)}.json",
        "/snapshots/not-an-id.json",
    ):
        assert_not_found(Client().get(path))


def test_a_draft_s_snapshot_is_for_its_managers_only() -> None:
    calculation = calculated(public=True)
    Decision.objects.filter(pk=calculation.decision_id).update(status=DecisionStatus.DRAFT)
    manager = MembershipFactory(community=calculation.decision.community, is_manager=True).user
    client = Client()
    client.force_login(manager)

    assert client.get(url_of(calculation)).status_code == 200
    assert_not_found(Client().get(url_of(calculation)))


def test_only_get_and_head_are_answered() -> None:
    calculation = calculated(public=True)

    assert Client().head(url_of(calculation)).status_code == 200
    assert Client().post(url_of(calculation)).status_code in {403, 405}


def test_snapshot_url_and_hash_in_the_api(graphql_as) -> None:
    calculation = calculated(public=False)
    member = MembershipFactory(community=calculation.decision.community).user
    decision_calculate(calculation.decision_id)  # the member's joining asked for another
    calculation = Calculation.objects.filter(decision=calculation.decision).first()

    got = graphql_as(member)(SNAPSHOT_URL, id=gid(calculation.decision)).data
    seen = got["decision"]["calculation"]
    downloaded = Client()
    downloaded.force_login(member)
    doc = json.loads(downloaded.get(seen["snapshotUrl"]).content)

    assert seen["snapshotUrl"] == url_of(calculation)
    assert seen["snapshotHash"] == doc["hashes"]["publishedHash"]
    assert seen["contentHash"] == doc["hashes"]["contentHash"]
    assert graphql_as(None)(SNAPSHOT_URL, id=gid(calculation.decision)).data == {"decision": None}


def test_snapshot_url_is_null_until_the_calculation_completes(graphql_as) -> None:
    calculation = calculated(public=True)
    Calculation.objects.create(decision=calculation.decision, trigger="test")

    got = graphql_as(None)(SNAPSHOT_URL, id=gid(calculation.decision)).data

    assert got["decision"]["calculation"]["status"] == "QUEUED"
    assert got["decision"]["calculation"]["snapshotUrl"] is None
    assert got["decision"]["calculation"]["snapshotHash"] is None


def test_the_verifier_needs_no_django_numpy_or_project_module() -> None:
    code = (
        "import sys, crowdvote_verify.__main__\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in "
        "{'django', 'numpy', 'scipy', 'calc', 'democracy', 'devtools'}]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, env={"PYTHONPATH": str(ROOT)}
    )


def test_a_calculation_whose_snapshot_is_gone_has_nothing_to_publish(graphql_as) -> None:
    calculation = calculated(public=True)
    StoredSnapshot.objects.filter(calculation=calculation).delete()
    calculation.content_hash = "f" * 64  # not remembered from an earlier download
    calculation.save(update_fields=["content_hash"])

    got = graphql_as(None)(SNAPSHOT_URL, id=gid(calculation.decision)).data

    assert got["decision"]["calculation"]["snapshotHash"] is None
    assert_not_found(Client().get(url_of(calculation)))
