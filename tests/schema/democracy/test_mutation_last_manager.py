"""leaveCommunity by the last manager: refused with a code until someone is promoted."""

from __future__ import annotations

import pytest

from democracy.models import Membership
from tests.factories import MembershipFactory
from tests.schema.conftest import gid

pytestmark = pytest.mark.django_db

LEAVE = """
mutation($id: ID!) { leaveCommunity(communityId: $id) { ok errors { code field message } } }
"""
PROMOTE = """
mutation($input: UpdateMembershipInput!) { updateMembership(input: $input) { errors { code } } }
"""


def test_the_sole_manager_is_told_to_promote_someone_first(graphql_as):
    manager = MembershipFactory(is_manager=True)
    member = MembershipFactory(community=manager.community)
    client = graphql_as(manager.user)

    refused = client(LEAVE, id=gid(manager.community)).data["leaveCommunity"]

    assert refused == {
        "ok": False,
        "errors": [
            {
                "code": "LAST_MANAGER",
                "field": "communityId",
                "message": "You are the community's last manager. "
                "Make another member a manager first.",
            }
        ],
    }
    assert Membership.objects.filter(pk=manager.pk, is_manager=True).exists()

    promoted = client(PROMOTE, input={"membershipId": gid(member), "isManager": True})
    assert promoted.data["updateMembership"]["errors"] == []
    assert client(LEAVE, id=gid(manager.community)).data["leaveCommunity"]["ok"] is True
    assert list(Membership.objects.filter(community=manager.community)) == [member]
