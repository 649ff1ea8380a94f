"""Django's ASGI handler with the middleware and the view run in one trip to a worker thread.

Django's own ASGI handler runs the middleware in async mode: every sync-only middleware, each
``process_request``/``process_view``/``process_response`` of the others and the sync view is
a trip of its own between the event loop and the request's thread (nine for a GraphQL POST),
each paying thread hand-overs and futures. Every middleware and view here is sync, so the
whole chain runs in sync mode, as under WSGI: one trip per request. The rest of the ASGI
handler (reading the body, the request signals, sending the response, a disconnect
cancelling the request) is Django's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase


class OneTripASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super(ASGIHandler, self).__init__()
        self.load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        # The thread ``ThreadSensitiveContext`` gives the request, as for a sync view.
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)
