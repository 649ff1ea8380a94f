"""Static files (widget, GraphiQL) served by the ASGI application itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404

if TYPE_CHECKING:
    from django.http import FileResponse, HttpRequest

NOT_FOUND = "No static file at this path."


class StaticFilesHandler(ASGIStaticFilesHandler):
    """Django's handler, answering a path that climbs out of the static folders with 404.

    The server passes the raw path on (``/static/widget/../../../etc/passwd``); the finders
    refuse it with ``SuspiciousFileOperation`` before reading anything, which Django's
    handler only catches as ``Http404``: the client got the server's bare 500 and the log a
    traceback. No file has such a path, so it is not found.
    """

    def serve(self, request: HttpRequest) -> FileResponse:
        try:
            return super().serve(request)
        except SuspiciousFileOperation:
            raise Http404(NOT_FOUND) from None
