"""follow and unfollow through the API."""

from __future__ import annotations

import pytest

from democracy.models import Following
from tests.factories import CommunityFactory, MembershipFactory
from tests.schema.conftest import gid

pytestmark = pytest.mark.django_db

FOLLOW = """
mutation($input: FollowInput!) {
  follow(input: $input) {
    following { follower { displayName } followee { displayName } tags order }
    errors { code field message }
  }
}"""
UNFOLLOW = """
mutation($c: ID!, $f: ID!) { unfollow(communityId: $c, followeeId: $f) { ok errors { code field } } }
"""
FOLLOWING_LIST = """
query($id: ID!) { node(id: $id) { ... on Membership { following { followee { displayName } tags order } } } }
"""


@pytest.fixture
def pair(user):
    me = MembershipFactory(user=user)
    return me, MembershipFactory(community=me.community)


def test_follow_on_tags_normalises_them(graphql_as, pair):
    me, them = pair
    payload = graphql_as(me.user)(
        FOLLOW,
        input={
            "communityId": gid(me.community),
            "followeeId": gid(them),
            "tags": ["Budget Plans", "parks"],
        },
    ).data["follow"]
    assert payload["errors"] == []
    assert payload["following"]["tags"] == ["budget-plans", "parks"]
    assert payload["following"]["order"] == 1


def test_follow_again_updates_tags_and_order(graphql_as, pair):
    me, them = pair
    client = graphql_as(me.user)
    variables = {"communityId": gid(me.community), "followeeId": gid(them)}
    client(FOLLOW, input={**variables, "tags": ["budget"]})
    payload = client(FOLLOW, input={**variables, "tags": [], "order": 3}).data["follow"]
    assert payload["following"]["tags"] == []
    assert payload["following"]["order"] == 3
    assert Following.objects.count() == 1
    listed = client(FOLLOWING_LIST, id=gid(me)).data["node"]["following"]
    assert listed == [{"followee": {"displayName": them.user.username}, "tags": [], "order": 3}]


@pytest.mark.parametrize(
    ("extra", "code", "field"),
    [
        ({"tags": ["not a tag!"]}, "INVALID_TAG", "tags"),
        ({"tags": ["x" * 41]}, "INVALID_TAG", "tags"),
        ({"order": 0}, "INVALID_ORDER", "order"),
    ],
)
def test_follow_with_bad_input_changes_nothing(graphql_as, pair, extra, code, field):
    me, them = pair
    payload = graphql_as(me.user)(
        FOLLOW, input={"communityId": gid(me.community), "followeeId": gid(them), **extra}
    ).data["follow"]
    assert (payload["errors"][0]["code"], payload["errors"][0]["field"]) == (code, field)
    assert payload["following"] is None
    assert not Following.objects.exists()


def test_following_yourself_is_refused(graphql_as, pair):
    me, _ = pair
    payload = graphql_as(me.user)(
        FOLLOW, input={"communityId": gid(me.community), "followeeId": gid(me)}
    ).data["follow"]
    assert payload["errors"][0]["code"] == "FOLLOW_SELF"
    assert not Following.objects.exists()


def test_following_someone_in_another_community_is_refused(graphql_as, pair):
    me, _ = pair
    public = MembershipFactory(community=CommunityFactory(results_are_public=True))
    private = MembershipFactory(community=CommunityFactory())
    follow = graphql_as(me.user)

    seen = follow(FOLLOW, input={"communityId": gid(me.community), "followeeId": gid(public)})
    unseen = follow(FOLLOW, input={"communityId": gid(me.community), "followeeId": gid(private)})

    assert seen.data["follow"]["errors"][0] == {
        "code": "NOT_MEMBER",
        "field": "followeeId",
        "message": "You can only follow a current member of the same community.",
    }
    assert unseen.data["follow"]["errors"][0]["code"] == "INVALID_ID"


def test_following_in_a_community_you_are_not_in_is_refused(graphql_as, pair):
    me, them = pair
    outsider = MembershipFactory()
    follow = graphql_as(outsider.user)
    args = {"communityId": gid(me.community), "followeeId": gid(them)}

    unseen = follow(FOLLOW, input=args)  # a private community: its members are unknown
    me.community.results_are_public = True
    me.community.save(update_fields=["results_are_public"])
    seen = follow(FOLLOW, input=args)

    assert unseen.data["follow"]["errors"][0]["code"] == "INVALID_ID"
    assert seen.error_codes == ["FORBIDDEN"]


def test_unfollow_and_unfollow_again(graphql_as, pair):
    me, them = pair
    client = graphql_as(me.user)
    client(FOLLOW, input={"communityId": gid(me.community), "followeeId": gid(them)})
    first = client(UNFOLLOW, c=gid(me.community), f=gid(them)).data["unfollow"]
    assert first == {"ok": True, "errors": []}
    again = client(UNFOLLOW, c=gid(me.community), f=gid(them)).data["unfollow"]
    assert again == {"ok": False, "errors": [{"code": "NOT_FOLLOWING", "field": "followeeId"}]}
