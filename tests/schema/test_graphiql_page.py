"""The GraphiQL page: served from vendored files only, each one the version it names."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

ASSET = re.compile(r'<(?:script|link)\b[^>]*?\b(?:src|href)="(/static/[^"]+)"[^>]*>')
INTEGRITY = re.compile(r'(?:src|href)="/static/([^"]+)"\s+integrity="(sha384-[^"]+)"')


def graphiql_html() -> str:
    with override_settings(GRAPHIQL_ENABLED=True):
        response = Client().get("/graphql", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_names_no_other_host() -> None:
    html = graphiql_html()

    assert "http://" not in html
    assert "https://" not in html
    assert "unpkg" not in html


def test_every_script_and_style_is_a_static_file_of_the_project() -> None:
    assets = ASSET.findall(graphiql_html())

    assert len(assets) == 9
    for url in assets:
        assert finders.find(url.removeprefix("/static/")), url


def test_vendored_files_match_their_published_integrity_hashes() -> None:
    pinned = INTEGRITY.findall(graphiql_html())

    assert len(pinned) == 7
    for path, integrity in pinned:
        found = finders.find(path)
        assert found, path
        with open(found, "rb") as vendored:
            digest = base64.b64encode(hashlib.sha384(vendored.read()).digest()).decode()
        assert f"sha384-{digest}" == integrity, path


def test_the_page_sets_the_csrf_cookie_its_script_sends_back() -> None:
    with override_settings(GRAPHIQL_ENABLED=True):
        response = Client().get("/graphql", HTTP_ACCEPT="text/html")

    assert "csrftoken" in response.cookies
