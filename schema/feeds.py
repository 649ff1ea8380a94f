"""Subscriptions shared by every socket that asks the same thing: executed once, sent to all.

Sockets whose subscriptions have the same document, operation name, variables and viewer
(anonymous viewers are all one viewer; a signed-in one is their user and credential) get
the same results, so one *feed* per process runs the subscription and serializes each
result once; every socket following it gets that payload in a frame with its own
operation id, through its bounded :class:`~schema.outbox.Outbox`. A socket that follows a
running feed first gets its latest result, which is what it would have read at the start.

The feed's resolvers listen through the process's group relay (``schema.relay``), check and
re-check the viewer's access, skip stale broadcasts and end with an error when access goes,
exactly as one socket's own subscription would; every follower gets the same ending.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import GraphQLError, OperationType, get_operation_ast, parse, validate
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.utils.aio import aclosing

from calc import layer as layer_health
from schema.calc.access import Viewer, viewer_of
from schema.limits import document_refusal
from schema.outbox import Frame, Outbox
from schema.relay import UNAVAILABLE, RelayListener
from schema.schema import schema

logger = logging.getLogger("crowdvote.fanout")
YIELD_EVERY = 500  # sockets written between two yields to the event loop
UNAVAILABLE_PAYLOAD = json.dumps(
    {
        "data": None,
        "errors": [GraphQLError(UNAVAILABLE, extensions={"code": "SERVICE_UNAVAILABLE"}).formatted],
    }
)


def shareable(query: str, operation_name: str | None) -> bool:
    """Whether a document is a valid subscription (others go the ordinary way)."""
    return _kind(query, operation_name) == (OperationType.SUBSCRIPTION, True)


def operation_type(query: str, operation_name: str | None) -> OperationType | None:
    """The type of the operation a document names; None if it does not parse or name one."""
    return _kind(query, operation_name)[0]


def _kind(query: str, operation_name: str | None) -> tuple[OperationType | None, bool]:
    # Over the size limit a document is never parsed, nor kept: the cache holds at most
    # 1,024 documents of GRAPHQL_MAX_DOCUMENT_BYTES each.
    if document_refusal(query) is not None:
        return None, False
    return _parsed_kind(query, operation_name)


@lru_cache(maxsize=1024)
def _parsed_kind(query: str, operation_name: str | None) -> tuple[OperationType | None, bool]:
    """The operation's type, and whether it is a valid subscription."""
    try:
        document = parse(query)
    except GraphQLError:
        return None, False
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None, False
    kind = operation.operation
    return kind, kind == OperationType.SUBSCRIPTION and not validate(schema._schema, document)


@dataclass(frozen=True, slots=True)
class FeedKey:
    query: str
    operation_name: str | None
    variables: str  # canonical JSON
    viewer: Viewer


class Outlet:
    """One socket's subscription following a feed."""

    __slots__ = ("ended", "op_id", "outbox", "prefix", "sent")

    def __init__(self, outbox: Outbox, op_id: str, prefix: str) -> None:
        self.outbox, self.op_id, self.prefix = outbox, op_id, prefix
        self.sent: str | None = None
        # Told how the feed ended; a future of its own, as shielding the feed's would cost
        # each socket two callbacks and a future more.
        self.ended: asyncio.Future[list[Any] | None] | None = None

    async def send(self, payload: str, frames: dict[str, Frame] | None = None) -> None:
        """Send ``payload`` in this operation's frame; ``frames`` caches them by prefix."""
        if self.sent is payload:
            return
        self.sent = payload
        if frames is None:
            await self.outbox.send(self.op_id, f"{self.prefix}{payload}}}")
            return
        frame = frames.get(self.prefix)
        if frame is None:
            frame = frames[self.prefix] = Frame.of(f"{self.prefix}{payload}}}")
        await self.outbox.send(self.op_id, frame)


class Feed:
    """One execution of a subscription, its followers, and how it ended."""

    payloads_computed = 0  # in this process, since it started: read by tests and logs

    def __init__(self, key: FeedKey, variables: dict[str, Any] | None, scope: dict[str, Any]):
        self.key = key
        self.outlets: dict[Outlet, None] = {}
        self.latest: str | None = None
        self.ended: asyncio.Future[list[Any] | None] = asyncio.get_running_loop().create_future()
        viewer_scope = {name: scope.get(name) for name in ("user", "session", "api_token_id")}
        self.task = asyncio.get_running_loop().create_task(self._run(variables, viewer_scope))

    async def _run(self, variables: dict[str, Any] | None, scope: dict[str, Any]) -> None:
        listener = RelayListener(scope)
        errors: list[Any] | None = None
        try:
            stream = await schema.subscribe(
                self.key.query,
                variable_values=variables,
                context_value={"request": listener, "ws": listener},
                operation_name=self.key.operation_name,
            )
            first = True
            async with aclosing(stream):
                async for result in stream:
                    if first and isinstance(result, PreExecutionError):
                        errors = [error.formatted for error in result.errors or []]
                        return
                    first = False
                    await self._publish(_payload(result))
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("A shared subscription failed")
        finally:
            _forget(self)
            if not self.ended.done():
                self.ended.set_result(errors)
            for outlet in self.outlets:
                if outlet.ended is not None and not outlet.ended.done():
                    outlet.ended.set_result(errors)

    async def _publish(self, payload: str) -> None:
        Feed.payloads_computed += 1
        self.latest = payload
        outlets = list(self.outlets)
        frames: dict[str, Frame] = {}  # sockets with the same operation id share a frame
        logger.debug(
            "Payload computed once for %d subscriber(s) (%d computed so far)",
            len(outlets),
            Feed.payloads_computed,
        )
        for index, outlet in enumerate(outlets):
            try:
                await outlet.send(payload, frames)
            except Exception:  # That socket is closing; the others go on.
                logger.debug("Sending to a websocket failed", exc_info=True)
            if index % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)

    def leave(self, outlet: Outlet) -> None:
        self.outlets.pop(outlet, None)
        if not self.outlets and not self.task.done():
            self.task.cancel()
            _forget(self)


def _payload(result: ExecutionResult) -> str:
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return json.dumps(payload)


_feeds: dict[asyncio.AbstractEventLoop, dict[FeedKey, Feed]] = {}


def _forget(feed: Feed) -> None:
    feeds = _feeds.get(asyncio.get_running_loop(), {})
    if feeds.get(feed.key) is feed:
        del feeds[feed.key]


async def follow(
    outbox: Outbox,
    op_id: str,
    prefix: str,
    query: str,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    scope: dict[str, Any],
) -> list[Any] | None:
    """Follow the feed of this subscription until it ends (starting it if none runs).

    ``prefix`` opens the socket's frame up to its payload. Returns the errors that ended the
    subscription before it started, or None once it completed.
    """
    if not layer_health.health.up:
        # As if it had started now: while Redis is away no subscription starts, and the
        # client is told to try again (a running feed waits for Redis and goes on).
        await Outlet(outbox, op_id, prefix).send(UNAVAILABLE_PAYLOAD)
        return None
    key = FeedKey(
        query=query,
        operation_name=operation_name,
        variables=json.dumps(variables or {}, sort_keys=True),
        viewer=viewer_of(scope),
    )
    loop = asyncio.get_running_loop()
    feeds = _feeds.setdefault(loop, {})
    feed = feeds.get(key)
    if feed is None:
        feed = feeds[key] = Feed(key, variables, scope)
    outlet = Outlet(outbox, op_id, prefix)
    outlet.ended = loop.create_future()
    feed.outlets[outlet] = None
    try:
        if feed.latest is not None:
            await outlet.send(feed.latest)
        if feed.ended.done():  # while the latest was sent
            return feed.ended.result()
        return await outlet.ended
    finally:
        feed.leave(outlet)
