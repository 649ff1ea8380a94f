"""Subscription myBallot over a websocket: the viewer's own ballot, sent again when it changes."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from accounts.services.tokens import token_issue
from calc.services import decision_calculate
from democracy.models import Role
from democracy.services.followings import following_delete
from democracy.services.memberships import membership_leave
from tests.factories import (
    BallotFactory,
    CommunityFactory,
    DecisionFactory,
    FollowingFactory,
    MembershipFactory,
    UserFactory,
)
from tests.schema.conftest import gid
from tests.schema.sockets import (
    ended_with,
    first_payload,
    next_payload,
    open_socket,
    sign_out,
    subscribe,
)

pytestmark = pytest.mark.django_db(transaction=True)

MY_BALLOT = """subscription($id: ID!) { myBallot(decisionId: $id) {
  calculationId standing isCounted tags abstentionReason abstentionMessage
  membership { displayName }
  stars { choice { title } stars }
  sources { delegate { displayName } weight matchedTags order } } }"""


@pytest.fixture
def following():
    """Dan follows Ann (anonymous) on budget and Ben on anything; nobody has voted yet."""
    community = CommunityFactory(results_are_public=True)
    ann = MembershipFactory(
        community=community, user=UserFactory(username="ann"), is_anonymous=True
    )
    ben = MembershipFactory(community=community, user=UserFactory(username="ben"))
    dan = MembershipFactory(community=community, user=UserFactory(username="dan"))
    eve = MembershipFactory(community=community, user=UserFactory(username="eve"))
    FollowingFactory(follower=dan, followee=ann, tags=["budget"])
    FollowingFactory(follower=dan, followee=ben, tags=[], order=2)
    decision = DecisionFactory(community=community, choices=["park", "road"])
    BallotFactory(decision=decision, membership=eve, stars={"road": 3})
    decision_calculate(decision.pk)
    return decision, {"ann": ann, "ben": ben, "dan": dan, "eve": eve}


def cast(decision, member, stars, tags=()):
    BallotFactory(decision=decision, membership=member, stars=stars, tags=list(tags))
    decision_calculate(decision.pk)


async def my_ballot_socket(member, decision):
    token = (await sync_to_async(token_issue)(user=member.user))[1]
    socket = await open_socket(token)
    await subscribe(socket, "b", MY_BALLOT, id=gid(decision))
    return socket, token


async def test_my_ballot_is_sent_now_then_when_a_delegate_votes(following):
    decision, members = following
    socket, _ = await my_ballot_socket(members["dan"], decision)
    now = (await first_payload(socket))["myBallot"]
    assert now["standing"] == "ABSTAINING"
    assert now["abstentionReason"] == "NO_MATCHING_DELEGATE"
    assert "follow" in now["abstentionMessage"]
    assert (now["stars"], now["sources"], now["isCounted"]) == ([], [], False)
    assert now["membership"] == {"displayName": "dan"}

    await sync_to_async(cast)(decision, members["ann"], {"park": 5}, tags=["budget"])
    update = (await next_payload(socket))["data"]["myBallot"]
    assert update["standing"] == "DELEGATED"
    assert update["isCounted"] is True
    assert update["abstentionReason"] is None
    assert update["calculationId"] != now["calculationId"]
    assert update["tags"] == ["budget"]
    assert update["stars"] == [
        {"choice": {"title": "park"}, "stars": "5.00000000"},
        {"choice": {"title": "road"}, "stars": "0.00000000"},
    ]
    (source,) = update["sources"]
    assert source["delegate"]["displayName"] != "ann"  # Anonymous: shown by pseudonym.
    assert source["weight"] == "1.00000000"
    assert source["matchedTags"] == ["budget"]

    await sync_to_async(cast)(decision, members["ben"], {"road": 4})
    both = (await next_payload(socket))["data"]["myBallot"]
    assert [s["delegate"]["displayName"] for s in both["sources"]][1] == "ben"
    assert [s["weight"] for s in both["sources"]] == ["0.50000000", "0.50000000"]
    assert both["stars"][1] == {"choice": {"title": "road"}, "stars": "2.00000000"}
    await socket.disconnect()


async def test_a_result_that_leaves_my_ballot_alone_sends_nothing(following):
    decision, members = following
    socket, _ = await my_ballot_socket(members["dan"], decision)
    await first_payload(socket)
    outsider = await sync_to_async(MembershipFactory)(community=decision.community)
    await sync_to_async(cast)(decision, outsider, {"park": 1})  # A new result, not for Dan.
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


async def test_a_direct_voter_gets_their_own_ballot_without_sources(following):
    decision, members = following
    socket, _ = await my_ballot_socket(members["eve"], decision)
    now = (await first_payload(socket))["myBallot"]
    assert now["standing"] == "DIRECT"
    assert now["isCounted"] is True
    assert now["sources"] == []
    assert now["stars"][1] == {"choice": {"title": "road"}, "stars": "3.00000000"}
    await socket.disconnect()


async def test_my_ballot_ends_on_sign_out(following):
    decision, members = following
    socket, token = await my_ballot_socket(members["dan"], decision)
    await first_payload(socket)
    await sync_to_async(sign_out)(token)
    assert await ended_with(socket, "b") == "UNAUTHENTICATED"
    await socket.disconnect()


async def test_my_ballot_ends_when_the_membership_goes_even_if_results_are_public(following):
    decision, members = following
    socket, _ = await my_ballot_socket(members["dan"], decision)
    await first_payload(socket)
    dan = members["dan"]
    await sync_to_async(membership_leave)(user=dan.user, community=dan.community)
    assert await ended_with(socket, "b") == "FORBIDDEN"
    await socket.disconnect()


async def test_my_ballot_needs_a_signed_in_member(following):
    decision, _ = following
    anonymous = await open_socket(None)
    await subscribe(anonymous, "b", MY_BALLOT, id=gid(decision))
    assert await ended_with(anonymous, "b") == "UNAUTHENTICATED"
    await anonymous.disconnect()

    outsider = await sync_to_async(MembershipFactory)()  # A member of another community.
    socket, _ = await my_ballot_socket(outsider, decision)
    assert await ended_with(socket, "b") == "FORBIDDEN"
    await socket.disconnect()


async def test_before_the_first_result_my_ballot_says_not_calculated():
    member = await sync_to_async(MembershipFactory)()
    decision = await sync_to_async(DecisionFactory)(community=member.community, choices=["a"])
    socket, _ = await my_ballot_socket(member, decision)
    now = (await first_payload(socket))["myBallot"]
    assert now["standing"] == "NOT_CALCULATED"
    assert now["calculationId"] is None
    await socket.disconnect()


async def test_unfollowing_the_only_matching_delegate_is_sent_as_an_abstention(following):
    decision, members = following
    await sync_to_async(cast)(decision, members["ben"], {"road": 4})
    socket, _ = await my_ballot_socket(members["dan"], decision)
    assert (await first_payload(socket))["myBallot"]["standing"] == "DELEGATED"

    def unfollow_ben():
        dan, ben = members["dan"], members["ben"]
        following_delete(user=dan.user, community=dan.community, followee=ben)
        decision_calculate(decision.pk)

    await sync_to_async(unfollow_ben)()
    update = (await next_payload(socket))["data"]["myBallot"]
    assert update["standing"] == "ABSTAINING"
    assert update["abstentionReason"] == "NO_MATCHING_DELEGATE"  # Ann is still followed.
    await socket.disconnect()


async def test_a_lobbyists_own_ballot_is_shown_as_not_counted():
    lobbyist = await sync_to_async(MembershipFactory)(role=Role.LOBBYIST)
    decision = await sync_to_async(DecisionFactory)(community=lobbyist.community, choices=["a"])
    await sync_to_async(cast)(decision, lobbyist, {"a": 2})
    socket, _ = await my_ballot_socket(lobbyist, decision)
    now = (await first_payload(socket))["myBallot"]
    assert (now["standing"], now["isCounted"]) == ("DIRECT", False)
    await socket.disconnect()
