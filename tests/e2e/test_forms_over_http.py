"""Form posts through a real `serve`: daphne leaves the body alone, Django still reads it."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
import uuid
from http.cookiejar import CookieJar

import pytest

from tests.e2e.conftest import ServerProcess

pytestmark = pytest.mark.e2e

CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def _multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return (
        f"{''.join(parts)}--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


def _urlencoded(fields: dict[str, str]) -> tuple[bytes, str]:
    body = "&".join(f"{name}={urllib.request.quote(value)}" for name, value in fields.items())
    return body.encode(), "application/x-www-form-urlencoded"


@pytest.mark.parametrize("encode", [_urlencoded, _multipart], ids=["urlencoded", "multipart"])
def test_a_sign_in_form_posted_through_daphne_reaches_the_view(
    embedded: ServerProcess, encode
) -> None:
    port = embedded.start("serve")
    page = f"http://127.0.0.1:{port}/sign-in/"
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    found = CSRF_FIELD.search(browser.open(page, timeout=10).read())
    assert found, "the sign-in form carries a CSRF token"

    body, content_type = encode(
        {"csrfmiddlewaretoken": found.group(1).decode(), "email": "Ann@Example.org"}
    )
    request = urllib.request.Request(
        page, data=body, headers={"Content-Type": content_type, "Referer": page}
    )
    answer = browser.open(request, timeout=10).read().decode()

    assert "We sent a sign-in link to <strong>Ann@Example.org</strong>" in answer


def test_a_form_post_without_its_csrf_token_is_still_refused(embedded: ServerProcess) -> None:
    port = embedded.start("serve")
    body, content_type = _urlencoded({"email": "ann@example.org"})
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/sign-in/", data=body, headers={"Content-Type": content_type}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
