"""Daphne's HTTP requests without Twisted's form parsing and access line.

Twisted parses a POST's Content-Type and, for a form or a multipart upload, its whole body
into ``request.args``, on the event loop. Daphne never reads ``args``: it hands the raw body
to Django, which parses forms itself. Parsing the header alone (through the ``email``
package) took a tenth of the server's CPU in a storm of ``castBallot`` requests, and a
large multipart body would be parsed twice, once where it blocks every other connection.

Twisted also formats an access line per request into its global log, which daphne throws
away (or, at verbosity 2 and up, passes to Python's logging as debug output); daphne's own
access log (``--access-log``) is the one to use.
"""

from __future__ import annotations

from typing import Any

from daphne.http_protocol import HTTPFactory, WebRequest

_build_protocol = HTTPFactory.buildProtocol


class RawBodyRequest(WebRequest):
    """Daphne's request, which leaves the body to the application."""

    def __init__(self, channel: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["parsePOSTFormSubmission"] = False
        super().__init__(channel, *args, **kwargs)


def _build_raw_body_protocol(self: HTTPFactory, addr: Any) -> Any:
    protocol = _build_protocol(self, addr)
    protocol.requestFactory = RawBodyRequest
    return protocol


def _no_twisted_access_line(self: HTTPFactory, request: Any) -> None:
    return None


def daphne_http_trimmed() -> None:
    """Make every daphne server of this process leave request bodies unparsed, and skip
    Twisted's access line."""
    HTTPFactory.buildProtocol = _build_raw_body_protocol
    HTTPFactory.log = _no_twisted_access_line
