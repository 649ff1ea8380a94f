"""createCommunity, updateCommunity, joinCommunity, leaveCommunity, updateMembership."""

from __future__ import annotations

import pytest

from democracy.models import Community, Membership, Role
from tests.factories import CommunityFactory, MembershipFactory, UserFactory
from tests.schema.conftest import gid

pytestmark = pytest.mark.django_db

CREATE = """
mutation($input: CreateCommunityInput!) {
  createCommunity(input: $input) {
    community { id name tieBreakPolicy resultsArePublic autoApproveApplications
                myMembership { role isManager isApproved displayName } }
    errors { code field message }
  }
}"""
UPDATE = """
mutation($input: UpdateCommunityInput!) {
  updateCommunity(input: $input) { community { name resultsArePublic } errors { code field } }
}"""
JOIN = """
mutation($id: ID!, $role: Role) {
  joinCommunity(communityId: $id, role: $role) {
    membership { role isApproved community { name } } errors { code field message }
  }
}"""
LEAVE = """mutation($id: ID!) { leaveCommunity(communityId: $id) { ok errors { code field } } }"""
UPDATE_MEMBERSHIP = """
mutation($input: UpdateMembershipInput!) {
  updateMembership(input: $input) {
    membership { role isManager isAnonymous isApproved displayName } errors { code field }
  }
}"""


def test_create_community_makes_creator_its_manager(graphql_as, user):
    payload = graphql_as(user)(CREATE, input={"name": "Allotments", "resultsArePublic": True}).data[
        "createCommunity"
    ]
    assert payload["errors"] == []
    assert payload["community"]["name"] == "Allotments"
    assert payload["community"]["tieBreakPolicy"] == "LOT"
    assert payload["community"]["resultsArePublic"] is True
    assert payload["community"]["autoApproveApplications"] is True
    assert payload["community"]["myMembership"] == {
        "role": "VOTER",
        "isManager": True,
        "isApproved": True,
        "displayName": "alice",
    }


def test_create_community_with_taken_name_changes_nothing(graphql_as, user):
    CommunityFactory(name="Allotments")
    payload = graphql_as(user)(CREATE, input={"name": "allotments"}).data["createCommunity"]
    assert payload["community"] is None
    assert payload["errors"][0]["code"] == "NAME_TAKEN"
    assert payload["errors"][0]["field"] == "name"
    assert Community.objects.count() == 1
    assert not Membership.objects.exists()


def test_a_look_alike_or_hidden_name_is_refused_with_a_code(graphql_as, user):
    CommunityFactory(name="Riverside Commons")
    create = graphql_as(user)

    look_alike = create(CREATE, input={"name": "\uff32iverside\u00a0Commons"})
    hidden = create(CREATE, input={"name": "Riverside Commons\u202e"})

    assert look_alike.data["createCommunity"]["errors"][0]["code"] == "NAME_TAKEN"
    refused = hidden.data["createCommunity"]["errors"][0]
    assert (refused["code"], refused["field"]) == ("INVALID_CHARACTERS", "name")
    assert "right-to-left override" in refused["message"]
    assert Community.objects.count() == 1


def test_create_community_needs_sign_in(graphql_as):
    response = graphql_as(None)(CREATE, input={"name": "Allotments"})
    assert response.error_codes == ["UNAUTHENTICATED"]
    assert not Community.objects.exists()


def test_update_community_by_manager_and_refused_to_others(graphql_as, user):
    manager = MembershipFactory(user=user, is_manager=True)
    other = MembershipFactory(community=manager.community)
    variables = {"communityId": gid(manager.community), "resultsArePublic": True, "name": "New"}
    refused = graphql_as(other.user)(UPDATE, input=variables)
    assert refused.error_codes == ["FORBIDDEN"]
    payload = graphql_as(user)(UPDATE, input=variables).data["updateCommunity"]
    assert payload == {"community": {"name": "New", "resultsArePublic": True}, "errors": []}


def test_join_community_as_lobbyist(graphql_as, user):
    community = CommunityFactory()
    payload = graphql_as(user)(JOIN, id=gid(community), role="LOBBYIST").data["joinCommunity"]
    assert payload["errors"] == []
    assert payload["membership"]["role"] == "LOBBYIST"
    assert payload["membership"]["isApproved"] is True


def test_join_community_needing_approval_waits(graphql_as, user):
    community = CommunityFactory(auto_approve_applications=False)
    payload = graphql_as(user)(JOIN, id=gid(community)).data["joinCommunity"]
    assert payload["membership"]["isApproved"] is False


def test_join_twice_is_refused(graphql_as, user):
    membership = MembershipFactory(user=user)
    payload = graphql_as(user)(JOIN, id=gid(membership.community)).data["joinCommunity"]
    assert payload["errors"][0]["code"] == "ALREADY_MEMBER"
    assert Membership.objects.count() == 1


@pytest.mark.parametrize("bad_id", ["nonsense", "Q29tbXVuaXR5Ong=", "RGVjaXNpb246MQ=="])
def test_join_with_malformed_or_foreign_id_is_invalid_id(graphql_as, user, bad_id):
    CommunityFactory()
    payload = graphql_as(user)(JOIN, id=bad_id).data["joinCommunity"]
    assert payload["errors"][0]["code"] == "INVALID_ID"
    assert payload["errors"][0]["field"] == "communityId"
    assert not Membership.objects.exists()


def test_leave_then_acting_in_community_is_forbidden(graphql_as, user):
    membership = MembershipFactory(user=user)
    MembershipFactory(community=membership.community, is_manager=True)
    client = graphql_as(user)
    assert client(LEAVE, id=gid(membership.community)).data["leaveCommunity"] == {
        "ok": True,
        "errors": [],
    }
    assert client(LEAVE, id=gid(membership.community)).error_codes == ["FORBIDDEN"]


def test_update_own_membership_to_anonymous_shows_pseudonym(graphql_as, user):
    membership = MembershipFactory(user=user)
    payload = graphql_as(user)(
        UPDATE_MEMBERSHIP, input={"membershipId": gid(membership), "isAnonymous": True}
    ).data["updateMembership"]
    assert payload["errors"] == []
    assert payload["membership"]["isAnonymous"] is True
    assert payload["membership"]["displayName"] != "alice"
    assert "alice" not in payload["membership"]["displayName"]


def test_lobbyist_cannot_become_anonymous(graphql_as, user):
    membership = MembershipFactory(user=user, role=Role.LOBBYIST)
    payload = graphql_as(user)(
        UPDATE_MEMBERSHIP, input={"membershipId": gid(membership), "isAnonymous": True}
    ).data["updateMembership"]
    assert payload["errors"] == [{"code": "LOBBYIST_CANNOT_BE_ANONYMOUS", "field": "isAnonymous"}]
    membership.refresh_from_db()
    assert membership.is_anonymous is False


def test_manager_approves_an_application(graphql_as, user):
    manager = MembershipFactory(user=user, is_manager=True)
    applicant = MembershipFactory(community=manager.community, is_approved=False)
    payload = graphql_as(user)(
        UPDATE_MEMBERSHIP, input={"membershipId": gid(applicant), "isApproved": True}
    ).data["updateMembership"]
    assert payload["membership"]["isApproved"] is True


def test_member_cannot_change_someone_else(graphql_as, user):
    mine = MembershipFactory(user=user)
    theirs = MembershipFactory(community=mine.community, user=UserFactory(username="bob"))
    response = graphql_as(user)(
        UPDATE_MEMBERSHIP, input={"membershipId": gid(theirs), "role": "LOBBYIST"}
    )
    assert response.error_codes == ["FORBIDDEN"]
    theirs.refresh_from_db()
    assert theirs.role == Role.VOTER
