"""Static files through the served ASGI application, with the raw paths a server passes on."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from channels.testing import HttpCommunicator

from crowdvote.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def get(path: str) -> dict[str, Any]:
    communicator = HttpCommunicator(application, "GET", path, headers=[(b"host", b"127.0.0.1")])
    return await communicator.get_response(timeout=10)


@pytest.mark.parametrize(
    "path",
    [
        "/static/widget/../../../../etc/passwd",
        "/static/../crowdvote/settings.py",
        "/static/schema/../../../../../../etc/hostname",
    ],
)
async def test_a_path_climbing_out_of_the_static_folders_is_not_found(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await get(path)

    assert response["status"] == 404
    assert b"root:" not in response["body"]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_static_file_is_still_served() -> None:
    # A FileResponse ends with a body-less message, which HttpCommunicator cannot read.
    communicator = HttpCommunicator(application, "GET", "/static/schema/graphiql.css")
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=10)
    first = await communicator.receive_output(timeout=10)
    await communicator.wait(timeout=10)

    assert start["status"] == 200
    assert first["body"]
