"""What the HTTP endpoint refuses before GraphQL sees a request, and how it says so.

A request that is not GraphQL at all is answered 400 (413 when too large) with a
GraphQL-shaped error and a code, never Django's HTML pages; one over a limit of
``schema.limits`` is refused like any other document, ``data: null`` with a coded error.
"""

from __future__ import annotations

import json

from cross_web import HTTPException
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from graphql import GraphQLError
from strawberry.types import ExecutionResult

from schema.client_errors import INTERNAL_MESSAGE, ClientErrorCode
from schema.limits import document_refusal, variables_refusal

BAD_REQUEST = "BAD_REQUEST"
REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
NOT_AN_OBJECT = 'The request body must be a JSON object such as {"query": "{ me { id } }"}.'
NOT_UTF8 = "The request body must be JSON encoded as UTF-8."
LONE_SURROGATE = "The request contains text that is not valid Unicode (an unpaired surrogate)."
TOO_DEEP = "The request body nests too deeply to be read as JSON."
UNREADABLE_NUMBER = "The request body holds a number too long to read (over 4,300 digits)."
UNREADABLE = 'The request could not be read: send a JSON body such as {"query": "{ me { id } }"}.'
API_PATHS = frozenset({"/graphql", "/graphql/"})


def decode_request(data: str | bytes) -> dict[str, object]:
    """Return a request body's JSON object; raise ``HTTPException`` (400) for any other."""
    try:
        decoded = json.loads(data)
    except json.JSONDecodeError:
        raise  # Strawberry answers "Unable to parse request body as JSON".
    # Python's decoder recurses per level of nesting: a few KB of "[" exhaust its stack.
    except RecursionError:
        raise HTTPException(400, TOO_DEEP) from None
    except ValueError:  # An integer longer than Python converts (sys.int_info).
        raise HTTPException(400, UNREADABLE_NUMBER) from None
    # Batching is off: anything but an object (null, 42, a list) is not a request.
    if not isinstance(decoded, dict):
        raise HTTPException(400, NOT_AN_OBJECT)
    # JSON may escape half of a UTF-16 pair ("\ud800"), which no database can store.
    try:
        json.dumps(decoded, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise HTTPException(400, LONE_SURROGATE) from None
    except RecursionError:
        raise HTTPException(400, TOO_DEEP) from None
    return decoded


def refused(error: HTTPException) -> JsonResponse:
    """Answer a request that is not GraphQL at all with its status and ``BAD_REQUEST``."""
    code = REQUEST_TOO_LARGE if error.status_code == 413 else BAD_REQUEST
    body = {"errors": [{"message": error.reason, "extensions": {"code": code}}]}
    return JsonResponse(body, status=error.status_code)


def too_large() -> HTTPException:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return HTTPException(413, f"The request body is too large: more than {limit:,} bytes.")


def limits_refusal(query: object, variables: object) -> ExecutionResult | None:
    """Return the refusal of a request over a limit checked before parsing, or None."""
    if message := document_refusal(query):
        code = ClientErrorCode.QUERY_TOO_COMPLEX
    elif message := variables_refusal(variables):
        code = ClientErrorCode.BAD_USER_INPUT
    else:
        return None
    error = GraphQLError(message, extensions={"code": code.value})
    return ExecutionResult(data=None, errors=[error])


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's ``handler400``: a coded JSON error on the API, Django's page elsewhere.

    Reached when something before the view refuses the request, such as the CSRF check
    reading a form body over the upload limit for a request with a session cookie.
    """
    if request.path_info not in API_PATHS:
        return defaults.bad_request(request, exception)
    too_big = isinstance(exception, RequestDataTooBig)
    return refused(too_large() if too_big else HTTPException(400, UNREADABLE))


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's ``handler500``: a coded JSON error on the API, Django's page elsewhere."""
    if request.path_info not in API_PATHS:
        return defaults.server_error(request)
    code = ClientErrorCode.INTERNAL_ERROR.value
    body = {"errors": [{"message": INTERNAL_MESSAGE, "extensions": {"code": code}}]}
    return JsonResponse(body, status=500)
