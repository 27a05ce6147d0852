"""Robustness of the sans-I/O HTTP connection (nacosfast.wire.http) against hostile byte streams."""

from __future__ import annotations

import pytest

from nacosfast.limits import MAX_HEADER_BYTES, PARSER_FEED_SLICE_BYTES
from nacosfast.wire.http import HttpConnection

LONG_TARGET = b"/nacos/v1/ns/instance/list?serviceName=a&" + b"k=v&" * ((MAX_HEADER_BYTES + 2048) // 4)
"""A request target over the head limit by less than one parser slice."""


def split_points(data: bytes) -> list[list[bytes]]:
    """The same bytes as one read, as two reads, and in reads of one parser slice."""
    half = len(data) // 2
    slices = [data[i : i + PARSER_FEED_SLICE_BYTES] for i in range(0, len(data), PARSER_FEED_SLICE_BYTES)]
    return [[data], [data[:half], data[half:]], slices]


@pytest.mark.parametrize("reads", range(3))
@pytest.mark.parametrize("headers", [b"", b"Host: t\r\n"])
def test_a_request_line_over_the_head_limit_is_431_however_it_is_split(reads: int, headers: bytes) -> None:
    request = b"GET " + LONG_TARGET + b" HTTP/1.1\r\n" + headers + b"\r\n"
    conn = HttpConnection()
    answered = []
    for data in split_points(request + request)[reads]:
        answered += conn.feed(data)
    assert answered == []
    assert conn.error is not None
    assert conn.error.status == 431
    assert conn.buffered == 0


def test_a_request_line_at_the_head_limit_is_served() -> None:
    head_rest = b" HTTP/1.1\r\n\r\n"
    target = b"/" + b"a" * (MAX_HEADER_BYTES - len(b"GET ") - len(head_rest) - 1)
    request = b"GET " + target + head_rest
    conn = HttpConnection()
    (served,) = conn.feed(request)
    assert served.path == target.decode()
    assert conn.error is None
