"""Django's ASGI handler, made cheaper per request for a server whose views are all sync.

Django's own handler runs the middleware in async mode: every sync-only middleware, each
``process_request``/``process_view``/``process_response`` of the others and the sync view is
a trip of its own between the event loop and the request's thread (nine for a GraphQL POST),
each paying thread hand-overs and futures. Every middleware and view here is sync, so the
whole chain runs in sync mode, as under WSGI: one trip per request.

Each request also got a new thread, started and joined (by another new thread), with its
own database wrapper built anew. Here a request still has a thread to itself for as long as
it runs, but an idle one is taken when there is one, as WSGI servers' thread pools do.

The request signals go in that trip too: ``request_started`` before the chain, and
``request_finished`` (``response.close()``) after it, once a response's body is in memory;
Django sends each from a trip of its own. A streamed response is closed after it is sent,
as Django does. A client's disconnect does not cancel the request: a sync view runs to its
end whatever the event loop does, and Django's cancelling only let the loop forget it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix

if TYPE_CHECKING:
    from typing import IO

    from django.http import HttpResponseBase

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

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            body = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            set_script_prefix(get_script_prefix(scope))
            # In the request's own thread (``ThreadSensitiveContext``), as for a sync view.
            response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body)
            try:
                await self.send_response(response, send)
            finally:
                if response.streaming:
                    await sync_to_async(response.close, thread_sensitive=True)()
        finally:
            body.close()

    def _respond(self, scope: dict[str, Any], body: IO[bytes]) -> HttpResponseBase:
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, refusal = self.create_request(scope, body)
        if request is None:
            assert refusal is not None  # a request Django cannot build comes with its answer
            response: HttpResponseBase = refusal
        else:
            response = self.get_response(request)
            response._handler_class = self.__class__  # type: ignore[attr-defined]
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            response.close()  # request_finished: the body is already in memory
        return response
