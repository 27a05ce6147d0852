"""The HTTP health check's request (target pinned to the instance, safe headers) and status line."""

from __future__ import annotations

import pytest

from nacosfast.limits import HTTP_CHECK_MAX_TARGET_BYTES
from nacosfast.wire.check_http import check_request, check_target, parse_headers, parse_status_line


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("", "/"),
        ("/", "/"),
        ("health", "/health"),
        ("/ready?full=1&x=%2F", "/ready?full=1&x=%2F"),
        ("http://other.example:9000/x?y=1", "/x?y=1"),
        ("//other.example/x", "/x"),
        ("/a b", "/a%20b"),
        ("/é", "/%C3%A9"),
        ("http://[::1", "/http://%5B::1"),
    ],
)
def test_target_stays_on_the_instance(path: str, target: str) -> None:
    assert check_target(path) == target


@pytest.mark.parametrize("path", ["/x\r\nInjected: 1", "/\t\x00 \x7f", "x\ny", "/%0d%0a"])
def test_target_never_holds_a_control_character_or_space(path: str) -> None:
    target = check_target(path)
    assert target.startswith("/")
    assert target.isascii()
    assert all(0x20 < ord(char) < 0x7F for char in target)


def test_headers_parse_as_nacos_and_refuse_injection() -> None:
    assert parse_headers("") == []
    assert parse_headers("a:b|c|d:e:f|g:| h : i ") == [("a", "b"), ("h", "i")]
    assert parse_headers("X-A:1\r\nEvil: 2|bad name:3|X-B:\x7f") == []
    assert parse_headers("X-A:1|x-a:2") == [("x-a", "2")]


def test_request_has_host_agent_and_close() -> None:
    request = check_request("10.0.0.5", 8080, "/health", "Accept:text/plain|Connection:keep-alive")
    assert request == (
        b"GET /health HTTP/1.1\r\nHost: 10.0.0.5:8080\r\nUser-Agent: VIPServer\r\n"
        b"Accept: text/plain\r\nConnection: close\r\n\r\n"
    )
    assert check_request("::1", 80, "", "").startswith(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n")
    assert b"Host: vhost\r\n" in check_request("10.0.0.5", 80, "/", "Host:vhost")


def test_oversized_request_is_refused() -> None:
    with pytest.raises(ValueError, match="larger"):
        check_request("10.0.0.5", 80, "/" + "a" * HTTP_CHECK_MAX_TARGET_BYTES, "")


def test_status_line() -> None:
    assert parse_status_line(b"") is None
    assert parse_status_line(b"HTTP/1.1 20") is None
    assert parse_status_line(b"HTTP/1.1 200 OK\r\n") == 200
    assert parse_status_line(b"HTTP/1.0 503\r\nServer: x") == 503
    assert parse_status_line(b"HTTP/1.1 302 Found\n") == 302
    for bad in (b"SSH-2.0-OpenSSH\r\n", b"HTTP/2 200\r\n", b"HTTP/1.1 2000 x\r\n", b"\x00\x01"):
        with pytest.raises(ValueError, match=r"HTTP|status"):
            parse_status_line(bad)
