"""Keep a subscription's access checked for as long as it is open.

A subscription was allowed when it started; a sign-out, a removed or unapproved membership
or a community that stopped being public must end it too. It listens to its viewer's and its
community's access groups (``schema.access_changes``) and re-checks from the database when a
message arrives, when a session runs out, and every ``RECHECK_SECONDS`` in case a message was
lost. Losing access ends it with ``UNAUTHENTICATED`` (the credential is gone) or
``FORBIDDEN`` (the decision is no longer visible).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from strawberry.channels import ChannelsConsumer

from accounts.models import User
from accounts.services.tokens import token_in_force
from calc.broadcast import STATUS, CalculationMessage, group_name
from calc.triggers import MEMBER_LEFT, MEMBERSHIP_CHANGED
from core.errors import Forbidden, NotAuthenticated
from democracy import selectors
from democracy.models import Decision, Membership
from schema.access_changes import ACCESS_CHANGED, community_group, user_group
from schema.errors import graphql_error

RECHECK_SECONDS = 10.0
# The calculations of a change that may withdraw someone's access.
WITHDRAWING = frozenset({MEMBERSHIP_CHANGED, MEMBER_LEFT})
NOT_VISIBLE = "No decision has this ID, or you cannot see it: sign in as a member."
SIGNED_OUT = "Your sign-in has ended (signed out, revoked or expired): sign in again."
SIGN_IN_FOR_BALLOT = "Sign in to follow your own ballot."
MEMBERS_ONLY = "Only approved members of this community have a ballot here."


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who opened a subscription, and with which credential (a token or a session)."""

    user_id: int | None
    token_id: int | None = None
    session_key: str | None = None


def viewer_of(scope: dict[str, Any]) -> Viewer:
    """Return the viewer of a websocket connection from its scope."""
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return Viewer(user_id=None)
    token_id = scope.get("api_token_id")
    if token_id is not None:
        return Viewer(user_id=user.pk, token_id=token_id)
    session = scope.get("session")
    return Viewer(user_id=user.pk, session_key=getattr(session, "session_key", None))


@dataclass(frozen=True, slots=True)
class Access:
    decision: Decision
    ends_at: datetime | None  # when the credential runs out by itself (a session's expiry)
    membership_pk: int | None = None  # the viewer's approved membership, when it was required


def _session_user(viewer: Viewer) -> tuple[int | None, datetime | None]:
    """Return the user of a live session and when it expires; (None, None) once it ended."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=viewer.session_key)
    data = store.load()  # Empty for a session that was deleted (signed out) or has expired.
    user_id = data.get(SESSION_KEY)
    if user_id is None:
        return None, None
    model = getattr(store, "model", None)  # The database backends keep the expiry in the row.
    if model is not None and "_session_expiry" not in data:
        ends_at = (
            model.objects.filter(session_key=viewer.session_key)
            .values_list("expire_date", flat=True)
            .first()
        )
    else:
        ends_at = store.get_expiry_date()
    return int(user_id), ends_at


def _user(viewer: Viewer) -> tuple[User | AnonymousUser, datetime | None]:
    """Return the viewer's user while their credential holds, else raise NotAuthenticated."""
    if viewer.user_id is None:
        return AnonymousUser(), None
    ends_at = None
    if viewer.token_id is not None:
        # A browser sign-in's token ends with its session, as token_authenticate has it.
        valid, ends_at = token_in_force(viewer.token_id, viewer.user_id)
    else:
        session_user, ends_at = _session_user(viewer)
        valid = session_user == viewer.user_id
    user = User.objects.filter(pk=viewer.user_id, is_active=True).first() if valid else None
    if user is None:
        raise NotAuthenticated(SIGNED_OUT)
    return user, ends_at


@database_sync_to_async
def credential_holds(viewer: Viewer) -> bool:
    """Return whether the viewer's token or session still signs them in (reads the database)."""
    try:
        _user(viewer)
    except NotAuthenticated:
        return False
    return True


@database_sync_to_async
def access_check(viewer: Viewer, decision_pk: int | None, *, member_only: bool = False) -> Access:
    """Return the decision the viewer may still see, or raise the GraphQL error that ends it.

    ``member_only``: the viewer must also be signed in and an approved member of the
    decision's community (a subscription about their own ballot).
    """
    try:
        if member_only and viewer.user_id is None:
            raise NotAuthenticated(SIGN_IN_FOR_BALLOT)
        user, ends_at = _user(viewer)
    except NotAuthenticated as error:
        raise graphql_error(error) from None
    visible = selectors.decision_list_visible(user)
    decision = None if decision_pk is None else visible.filter(pk=decision_pk).first()
    if decision is None:
        raise graphql_error(Forbidden(NOT_VISIBLE))
    if not member_only:
        return Access(decision=decision, ends_at=ends_at)
    assert viewer.user_id is not None  # Refused above when signed out.
    membership_pk = (
        Membership.objects.filter(
            user_id=viewer.user_id, community_id=decision.community_id, is_approved=True
        )
        .values_list("pk", flat=True)
        .first()
    )
    if membership_pk is None:
        raise graphql_error(Forbidden(MEMBERS_ONLY))
    return Access(decision=decision, ends_at=ends_at, membership_pk=membership_pk)


def _next_check(loop: asyncio.AbstractEventLoop, ends_at: datetime | None) -> float:
    wait = RECHECK_SECONDS
    if ends_at is not None:
        wait = min(wait, max(0.0, (ends_at - timezone.now()).total_seconds()))
    return loop.time() + wait


async def _checked(
    statuses: AsyncIterator[CalculationMessage],
    changes: AsyncIterator[object],
    viewer: Viewer,
    access: Access,
    member_only: bool,
) -> AsyncGenerator[CalculationMessage, None]:
    loop = asyncio.get_running_loop()
    check_at = _next_check(loop, access.ends_at)
    status: asyncio.Future[CalculationMessage] = asyncio.ensure_future(anext(statuses))
    change: asyncio.Future[object] = asyncio.ensure_future(anext(changes))
    try:
        while True:
            waiting: set[asyncio.Future[Any]] = {status, change}
            done, _ = await asyncio.wait(
                waiting,
                timeout=max(0.0, check_at - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if change in done or not done:
                if change in done:
                    change = asyncio.ensure_future(anext(changes))
                # Checked before any status that arrived with it is passed on.
                access = await access_check(viewer, access.decision.pk, member_only=member_only)
                check_at = _next_check(loop, access.ends_at)
            if status in done:
                message = status.result()
                status = asyncio.ensure_future(anext(statuses))
                if message["calculation"].get("trigger") in WITHDRAWING:
                    # Broadcast to another group than the access change that came with it,
                    # it may arrive first: checked, so a removed member sees no status of it.
                    access = await access_check(viewer, access.decision.pk, member_only=member_only)
                    check_at = _next_check(loop, access.ends_at)
                yield message
    finally:
        status.cancel()
        change.cancel()


@database_sync_to_async
def _community_of(decision_pk: int | None) -> int | None:
    if decision_pk is None:
        return None
    return Decision.objects.filter(pk=decision_pk).values_list("community_id", flat=True).first()


@contextlib.asynccontextmanager
async def decision_access(
    ws: ChannelsConsumer, viewer: Viewer, decision_pk: int | None, *, member_only: bool = False
) -> AsyncIterator[tuple[Access, AsyncIterator[CalculationMessage]]]:
    """Check access, then yield it (the decision, …) and its broadcasts while it lasts.

    The access groups are joined before the first check, so no withdrawal falls between
    the check and the listening; the caller reads the current state before iterating.
    """
    community_pk = await _community_of(decision_pk)
    if community_pk is None:
        raise graphql_error(Forbidden(NOT_VISIBLE))
    groups = [community_group(community_pk)]
    groups += [] if viewer.user_id is None else [user_group(viewer.user_id)]
    async with ws.listen_to_channel(ACCESS_CHANGED, groups=groups) as changes:
        access = await access_check(viewer, decision_pk, member_only=member_only)
        status_groups = [group_name(access.decision.pk)]
        async with ws.listen_to_channel(STATUS, groups=status_groups) as statuses:
            checked = _checked(statuses, changes, viewer, access, member_only)
            try:
                yield access, checked
            finally:
                await checked.aclose()  # Cancels its pending reads before the groups are left.


@contextlib.asynccontextmanager
async def decision_statuses(
    ws: ChannelsConsumer, viewer: Viewer, decision_pk: int | None
) -> AsyncIterator[tuple[Decision, AsyncIterator[CalculationMessage]]]:
    """``decision_access`` for subscriptions that need only the decision."""
    async with decision_access(ws, viewer, decision_pk) as (access, messages):
        yield access.decision, messages
