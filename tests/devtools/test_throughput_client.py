"""The benchmark's HTTP client: requests built ahead, answers read off the socket."""

from __future__ import annotations

import io
import json

import pytest

from devtools.throughput import ClientShare, cast_requests, http_body


def test_a_body_is_read_by_its_content_length_leaving_the_next_answer_unread() -> None:
    answers = io.BytesIO(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnull"
    )
    assert http_body(answers) == b"{}"
    assert http_body(answers) == b"null"


def test_a_chunked_body_is_joined() -> None:
    answers = io.BytesIO(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'3\r\n{"a\r\n5;ext=1\r\n": 1}\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n'
    )
    assert http_body(answers) == b'{"a": 1}'
    assert answers.read() == b"HTTP/1.1 200 OK\r\n"


def test_an_answer_other_than_200_stops_the_client() -> None:
    answers = io.BytesIO(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(RuntimeError, match="400 Bad Request"):
        http_body(answers)


def test_each_voter_casts_every_rating_in_turn() -> None:
    share = ClientShare(
        url="http://127.0.0.1:8000/graphql",
        tokens=["t1", "t2", "t3", "t4"],
        decision="D",
        choices=["A", "B"],
        seconds=1.0,
        offset=1,
    )

    requests = cast_requests(share, "127.0.0.1", "/graphql")

    assert len(requests) == 12  # 4 voters and 6 shifts meet again after lcm(4, 6) casts
    casts = []
    for request in requests:
        head, body = request.split(b"\r\n\r\n", 1)
        assert head.startswith(b"POST /graphql HTTP/1.1\r\n")
        assert f"Content-Length: {len(body)}".encode() in head
        token = head.split(b"Authorization: Bearer ")[1].split(b"\r\n")[0].decode()
        stars = json.loads(body)["variables"]["stars"]
        casts.append((token, tuple(s["stars"] for s in stars)))
    assert casts[:3] == [("t1", (1, 2)), ("t2", (2, 3)), ("t3", (3, 4))]
    # Every voter's next cast changes their stars.
    for voter in ("t1", "t2", "t3", "t4"):
        theirs = [stars for token, stars in casts if token == voter]
        assert all(a != b for a, b in zip(theirs, theirs[1:] + theirs[:1], strict=True))
