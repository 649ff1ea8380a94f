"""Following a member on topics, re-tagging, reordering and unfollowing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from core.errors import DomainError, Forbidden, NotAuthenticated
from democracy.models import Following, Membership
from democracy.pseudonyms import pseudonym
from democracy.services.followings import following_delete, following_upsert
from tests.democracy.conftest import assert_error
from tests.factories import FollowingFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair():
    """Return a follower and a possible followee in one community."""
    follower = MembershipFactory()
    return follower, MembershipFactory(community=follower.community)


def test_follow_on_every_topic(pair, events):
    follower, followee = pair
    community = follower.community
    following = following_upsert(user=follower.user, community=community, followee=followee)
    following.refresh_from_db()
    assert (following.follower, following.followee) == (follower, followee)
    assert following.community == follower.community
    assert following.tags == []
    assert following.order == 1
    record = events.one("FOLLOW")
    assert record.actor == follower.user.username
    assert "all topics" in record.getMessage()


def test_follow_normalises_tags(pair):
    follower, followee = pair
    following = following_upsert(
        user=follower.user,
        community=follower.community,
        followee=followee,
        tags=["  Budget Plans ", "parks", "PARKS"],
    )
    following.refresh_from_db()
    assert following.tags == ["budget-plans", "parks"]


@pytest.mark.parametrize("bad", ["", "   ", "café", "a/b", "x" * 41])
def test_an_invalid_tag_is_refused_and_named(pair, unchanged, bad):
    follower, followee = pair
    with unchanged(), pytest.raises(DomainError) as raised:
        following_upsert(
            user=follower.user,
            community=follower.community,
            followee=followee,
            tags=["budget", bad],
        )
    assert_error(raised, "INVALID_TAG", "tags")
    assert repr(bad) in raised.value.message


def test_an_invalid_tag_leaves_an_existing_follow_as_it_was(unchanged):
    existing = FollowingFactory(tags=["budget"])
    with unchanged(), pytest.raises(DomainError) as raised:
        following_upsert(
            user=existing.follower.user,
            community=existing.community,
            followee=existing.followee,
            tags=["schools", "no way!"],
        )
    assert_error(raised, "INVALID_TAG", "tags")


def test_following_oneself_is_refused(unchanged):
    member = MembershipFactory()
    with unchanged(), pytest.raises(DomainError) as raised:
        following_upsert(user=member.user, community=member.community, followee=member)
    assert_error(raised, "FOLLOW_SELF", "followeeId")


def test_following_a_member_of_another_community_is_refused(unchanged):
    follower = MembershipFactory()
    stranger = MembershipFactory()
    with unchanged(), pytest.raises(DomainError) as raised:
        following_upsert(user=follower.user, community=follower.community, followee=stranger)
    assert_error(raised, "NOT_MEMBER", "followeeId")


def test_following_an_unapproved_member_is_refused(unchanged):
    follower = MembershipFactory()
    applicant = MembershipFactory(community=follower.community, is_approved=False)
    with unchanged(), pytest.raises(DomainError) as raised:
        following_upsert(user=follower.user, community=follower.community, followee=applicant)
    assert_error(raised, "NOT_MEMBER", "followeeId")


def test_following_nobody_is_refused(unchanged):
    follower = MembershipFactory()
    with unchanged(), pytest.raises(DomainError) as raised:
        following_upsert(user=follower.user, community=follower.community, followee=None)
    assert_error(raised, "NOT_MEMBER", "followeeId")


def test_following_a_member_who_has_since_left_is_refused(unchanged):
    follower = MembershipFactory()
    followee = MembershipFactory(community=follower.community)
    stale = Membership.objects.get(pk=followee.pk)
    followee.delete()
    with unchanged(), pytest.raises(DomainError) as raised:
        following_upsert(user=follower.user, community=follower.community, followee=stale)
    assert_error(raised, "NOT_MEMBER", "followeeId")


def test_following_requires_sign_in(pair, unchanged):
    _, followee = pair
    with unchanged(), pytest.raises(NotAuthenticated):
        following_upsert(user=AnonymousUser(), community=followee.community, followee=followee)


def test_a_non_member_cannot_follow(pair, unchanged):
    _, followee = pair
    outsider = MembershipFactory()
    with unchanged(), pytest.raises(Forbidden):
        following_upsert(user=outsider.user, community=followee.community, followee=followee)


def test_following_again_updates_tags_and_order_in_the_same_row():
    existing = FollowingFactory(tags=["budget"], order=1)
    following = following_upsert(
        user=existing.follower.user,
        community=existing.community,
        followee=existing.followee,
        tags=["Schools"],
        order=3,
    )
    assert following.pk == existing.pk
    assert Following.objects.count() == 1
    existing.refresh_from_db()
    assert (existing.tags, existing.order) == (["schools"], 3)


def test_following_again_without_order_keeps_the_place():
    first = FollowingFactory(order=1)
    FollowingFactory(follower=first.follower, order=2)
    following_upsert(
        user=first.follower.user, community=first.community, followee=first.followee, tags=["x"]
    )
    first.refresh_from_db()
    assert first.order == 1


def test_a_new_follow_without_order_goes_last():
    first = FollowingFactory(order=4)
    followee = MembershipFactory(community=first.community)
    following = following_upsert(
        user=first.follower.user, community=first.community, followee=followee
    )
    assert following.order == 5


@pytest.mark.parametrize("order", [0, -1, True, 1.5, "2"])
def test_an_order_that_is_not_a_whole_number_from_1_is_refused(pair, unchanged, order):
    follower, followee = pair
    with unchanged(), pytest.raises(DomainError) as raised:
        following_upsert(
            user=follower.user, community=follower.community, followee=followee, order=order
        )
    assert_error(raised, "INVALID_ORDER", "order")


def test_unfollow_removes_the_follow(events):
    existing = FollowingFactory()
    other = FollowingFactory(follower=existing.follower)
    following_delete(
        user=existing.follower.user, community=existing.community, followee=existing.followee
    )
    assert list(Following.objects.all()) == [other]
    assert events.one("UNFOLLOW").actor == existing.follower.user.username


def test_unfollowing_someone_not_followed_is_refused(pair, unchanged):
    follower, followee = pair
    FollowingFactory(followee=follower, follower=followee)
    with unchanged(), pytest.raises(DomainError) as raised:
        following_delete(user=follower.user, community=follower.community, followee=followee)
    assert_error(raised, "NOT_FOLLOWING", "followeeId")


def test_unfollow_requires_sign_in(unchanged):
    existing = FollowingFactory()
    with unchanged(), pytest.raises(NotAuthenticated):
        following_delete(user=None, community=existing.community, followee=existing.followee)


def test_follow_logs_anonymous_members_by_pseudonym(events):
    follower = MembershipFactory(is_anonymous=True, user__username="secretsam")
    followee = MembershipFactory(
        community=follower.community, is_anonymous=True, user__username="hiddenhal"
    )
    following_upsert(user=follower.user, community=follower.community, followee=followee)
    following_delete(user=follower.user, community=follower.community, followee=followee)
    assert events.one("FOLLOW").actor == pseudonym(follower.pk)
    assert events.one("UNFOLLOW").actor == pseudonym(follower.pk)
    assert pseudonym(followee.pk) in events.one("FOLLOW").getMessage()
    logged = " ".join(events.lines())
    assert "secretsam" not in logged
    assert "hiddenhal" not in logged
