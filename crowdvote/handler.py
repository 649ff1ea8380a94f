"""Django's ASGI handler, made cheaper per request for a server whose views are all sync.

Django's own handler runs the middleware in async mode: every sync-only middleware, each
``process_request``/``process_view``/``process_response`` of the others and the sync view is
a trip of its own between the event loop and the request's thread (nine for a GraphQL POST),
each paying thread hand-overs and futures. Every middleware and view here is sync, so the
whole chain runs in sync mode, as under WSGI: one trip per request.

Each request also got a new thread, started and joined (by another new thread), with its
own database wrapper built anew. Here a request still has a thread to itself for as long as
it runs, but an idle one is taken when there is one, as WSGI servers' thread pools do.

The rest of the ASGI handler (reading the body, the request signals, sending the response,
a disconnect cancelling the request) is Django's.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

T = TypeVar("T")
# Beyond this many idle threads, a finished request's thread ends.
IDLE_THREADS = 32


class RequestThread(ThreadPoolExecutor):
    """One thread, which knows whether all it was given has run."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        self._lock = threading.Lock()
        self._unfinished = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._lock:
            self._unfinished += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _: Future[Any]) -> None:
        with self._lock:
            self._unfinished -= 1

    @property
    def idle(self) -> bool:
        return self._unfinished == 0


class OneTripASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super(ASGIHandler, self).__init__()
        self.load_middleware(is_async=False)
        self._idle: deque[RequestThread] = deque()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        thread = self._idle.pop() if self._idle else RequestThread()
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            if thread.idle:
                self._release(thread)
            else:
                # Idle again once its work has run: a request cancelled by its client's
                # disconnect may leave its sync code running.
                thread.submit(self._release, thread)

    def _release(self, thread: RequestThread) -> None:
        if len(self._idle) < IDLE_THREADS:
            self._idle.append(thread)
        else:
            thread.shutdown(wait=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        # In the request's own thread (``ThreadSensitiveContext``), as for a sync view.
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)
