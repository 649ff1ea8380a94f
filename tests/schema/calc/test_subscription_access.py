"""Open subscriptions end as soon as their viewer loses access, over a real websocket."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services.tokens import token_issue
from calc.services import decision_calculate
from crowdvote.asgi import application
from democracy.access import Staff
from democracy.models import DecisionStatus
from democracy.services.communities import community_update
from democracy.services.memberships import membership_leave, membership_update
from schema.calc import access
from tests.factories import (
    BallotFactory,
    CommunityFactory,
    DecisionFactory,
    MagicLinkFactory,
    MembershipFactory,
    UserFactory,
)
from tests.schema.conftest import gid
from tests.schema.sockets import (
    RESULTS,
    STATUS,
    ended_with,
    first_payload,
    open_socket,
    sign_out,
    subscribe,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def voting():
    manager = MembershipFactory(is_manager=True)
    member = MembershipFactory(community=manager.community)
    decision = DecisionFactory(community=manager.community, choices=["park", "road"])
    BallotFactory(decision=decision, membership=member, stars={"park": 4})
    decision_calculate(decision.pk)
    return manager, member, decision, token_issue(user=member.user)[1]


@pytest.mark.parametrize("query", [STATUS, RESULTS])
async def test_sign_out_ends_the_open_subscription(voting, query):
    _, _, decision, token = voting
    socket = await open_socket(token)
    await subscribe(socket, "s", query, id=gid(decision))
    await first_payload(socket)
    await sync_to_async(sign_out)(token)
    assert await ended_with(socket, "s") == "UNAUTHENTICATED"
    await socket.disconnect()


async def test_a_new_subscription_after_sign_out_is_refused(voting):
    _, _, decision, token = voting
    socket = await open_socket(token)
    await sync_to_async(sign_out)(token)
    await subscribe(socket, "s", STATUS, id=gid(decision))
    assert await ended_with(socket, "s") == "UNAUTHENTICATED"
    await socket.disconnect()


async def test_unapproving_the_member_ends_their_subscription_not_others(voting):
    manager, member, decision, token = voting
    manager_token = (await sync_to_async(token_issue)(user=manager.user))[1]
    theirs, ours = await open_socket(token), await open_socket(manager_token)
    await subscribe(theirs, "s", RESULTS, id=gid(decision))
    await subscribe(ours, "m", RESULTS, id=gid(decision))
    await first_payload(theirs)
    await first_payload(ours)
    await sync_to_async(membership_update)(user=manager.user, membership=member, is_approved=False)
    assert await ended_with(theirs, "s") == "FORBIDDEN"
    assert await ours.receive_nothing(timeout=0.3)
    await theirs.disconnect()
    await ours.disconnect()


async def test_removing_the_membership_ends_the_subscription(voting):
    _, member, decision, token = voting
    socket = await open_socket(token)
    await subscribe(socket, "s", STATUS, id=gid(decision))
    await first_payload(socket)
    await sync_to_async(membership_leave)(user=member.user, community=member.community)
    assert await ended_with(socket, "s") == "FORBIDDEN"
    await socket.disconnect()


async def test_making_a_community_private_ends_a_signed_out_viewer(voting):
    manager, _, decision, _ = voting
    community = manager.community
    community.results_are_public = True
    await sync_to_async(community.save)()
    socket = await open_socket(None)
    await subscribe(socket, "s", RESULTS, id=gid(decision))
    await first_payload(socket)
    await sync_to_async(community_update)(
        user=manager.user, community=community, results_are_public=False
    )
    assert await ended_with(socket, "s") == "FORBIDDEN"
    await socket.disconnect()


async def test_a_lost_message_is_healed_by_the_periodic_recheck(voting, monkeypatch):
    monkeypatch.setattr(access, "RECHECK_SECONDS", 0.2)
    _, _, decision, token = voting
    socket = await open_socket(token)
    await subscribe(socket, "s", STATUS, id=gid(decision))
    await first_payload(socket)
    # A revocation whose message never went out: the row changes, no receiver runs.
    await sync_to_async(ApiToken.objects.update)(revoked_at="2026-01-01T00:00:00Z")
    assert await ended_with(socket, "s") == "UNAUTHENTICATED"
    await socket.disconnect()


async def test_staff_unapproving_from_the_admin_ends_it_too(voting):
    _, member, decision, token = voting
    staff = await sync_to_async(UserFactory)(is_staff=True)
    socket = await open_socket(token)
    await subscribe(socket, "s", STATUS, id=gid(decision))
    await first_payload(socket)
    await sync_to_async(membership_update)(user=Staff(staff), membership=member, is_approved=False)
    assert await ended_with(socket, "s") == "FORBIDDEN"
    await socket.disconnect()


async def test_ending_on_lost_access_leaves_no_task_behind(voting):
    _, _, decision, token = voting
    socket = await open_socket(token)
    await subscribe(socket, "s", STATUS, id=gid(decision))
    await first_payload(socket)
    await sync_to_async(sign_out)(token)
    await ended_with(socket, "s")
    await asyncio.sleep(0.1)
    # A pending read of a message stream shows as an ``async_generator_asend`` task.
    reads = [t for t in asyncio.all_tasks() if "async_generator_asend" in repr(t.get_coro())]
    assert reads == []
    await socket.disconnect()


async def test_an_outsider_of_another_community_is_not_disturbed(voting):
    _, _, decision, token = voting
    other = await sync_to_async(CommunityFactory)()
    socket = await open_socket(token)
    await subscribe(socket, "s", STATUS, id=gid(decision))
    await first_payload(socket)
    await sync_to_async(community_update)(
        user=Staff(await sync_to_async(UserFactory)(is_staff=True)),
        community=other,
        description="x",
    )
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


def browser_signed_in(member_email: str) -> Client:
    MagicLinkFactory(email=member_email, token="cvl_subscription-session")
    browser = Client()
    response = browser.post(
        "/graphql",
        data=json.dumps(
            {
                "query": 'mutation { signInWithMagicLink(token: "cvl_subscription-session") { token } }'
            }
        ),
        content_type="application/json",
    )
    assert response.json()["data"]["signInWithMagicLink"]["token"]
    return browser


async def test_signing_a_browser_out_ends_its_session_subscription(voting):
    _, member, decision, _ = voting
    browser = await sync_to_async(browser_signed_in)(member.user.email)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    socket = WebsocketCommunicator(
        application,
        "/graphql",
        subprotocols=["graphql-transport-ws"],
        headers=[(b"cookie", cookie.encode())],
    )
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "connection_init", "payload": {}})
    assert (await socket.receive_json_from(timeout=5))["type"] == "connection_ack"
    await subscribe(socket, "s", STATUS, id=gid(decision))
    await first_payload(socket)
    signed_out = await sync_to_async(browser.post)(
        "/graphql",
        data=json.dumps({"query": "mutation { signOut { ok } }"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=browser.cookies[settings.CSRF_COOKIE_NAME].value
        if settings.CSRF_COOKIE_NAME in browser.cookies
        else "",
    )
    assert signed_out.json()["data"]["signOut"]["ok"] is True
    assert await ended_with(socket, "s") == "UNAUTHENTICATED"
    await socket.disconnect()


async def test_a_draft_is_subscribed_to_by_its_managers_only(voting):
    manager, _, decision, token = voting
    draft = await sync_to_async(DecisionFactory)(
        community=decision.community, status=DecisionStatus.DRAFT
    )
    socket = await open_socket(token)
    await subscribe(socket, "s", STATUS, id=gid(draft))
    assert await ended_with(socket, "s") == "FORBIDDEN"
    manager_token = (await sync_to_async(token_issue)(user=manager.user))[1]
    theirs = await open_socket(manager_token)
    await subscribe(theirs, "m", STATUS, id=gid(draft))
    assert await theirs.receive_nothing(timeout=0.3)  # No calculation yet, and no error.
    await socket.disconnect()
    await theirs.disconnect()


async def test_an_expiring_session_ends_its_subscription_on_time(voting):
    _, member, decision, _ = voting
    browser = await sync_to_async(browser_signed_in)(member.user.email)
    key = browser.cookies[settings.SESSION_COOKIE_NAME].value
    soon = timezone.now() + timedelta(seconds=0.6)
    await sync_to_async(Session.objects.filter(session_key=key).update)(expire_date=soon)
    socket = WebsocketCommunicator(
        application,
        "/graphql",
        subprotocols=["graphql-transport-ws"],
        headers=[(b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode())],
    )
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "connection_init", "payload": {}})
    assert (await socket.receive_json_from(timeout=5))["type"] == "connection_ack"
    await subscribe(socket, "s", STATUS, id=gid(decision))
    await first_payload(socket)
    assert await ended_with(socket, "s", timeout=1.5) == "UNAUTHENTICATED"
    await socket.disconnect()


async def test_sign_out_ends_a_subscription_over_the_older_protocol(voting):
    _, _, decision, token = voting
    socket = WebsocketCommunicator(application, "/graphql", subprotocols=["graphql-ws"])
    assert (await socket.connect())[0]
    payload = {"authorization": f"Bearer {token}"}
    await socket.send_json_to({"type": "connection_init", "payload": payload})
    assert (await socket.receive_json_from(timeout=5))["type"] == "connection_ack"
    await socket.send_json_to(
        {
            "type": "start",
            "id": "s",
            "payload": {"query": STATUS, "variables": {"id": gid(decision)}},
        }
    )
    assert (await socket.receive_json_from(timeout=5))["type"] == "data"
    await sync_to_async(sign_out)(token)
    ending = [await socket.receive_json_from(timeout=1) for _ in range(2)]
    assert ending[0]["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert ending[1] == {"type": "complete", "id": "s"}
    await socket.disconnect()


@pytest.mark.parametrize("withdraw", ["unapprove", "leave"])
async def test_no_status_of_the_change_that_withdrew_access_reaches_the_member(voting, withdraw):
    manager, member, decision, token = voting
    socket = await open_socket(token)
    await subscribe(socket, "s", STATUS, id=gid(decision))
    await first_payload(socket)
    if withdraw == "unapprove":
        await sync_to_async(membership_update)(
            user=manager.user, membership=member, is_approved=False
        )
    else:
        await sync_to_async(membership_leave)(user=member.user, community=member.community)
    received = []
    while not received or received[-1]["type"] not in ("error", "complete"):
        received.append(await socket.receive_json_from(timeout=2))
    statuses = [m for m in received if m["type"] == "next" and m["payload"].get("data")]
    assert statuses == []
    await socket.disconnect()
