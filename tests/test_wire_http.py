"""The sans-I/O HTTP/1.1 connection (nacosfast.wire.http) and request parameters (wire.message)."""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Iterator
from urllib.parse import unquote_to_bytes

import httptools
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nacosfast.errors import BadRequest, NacosError
from nacosfast.limits import MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_HEADER_FIELDS, PARSER_FEED_SLICE_BYTES
from nacosfast.wire.http import HttpConnection, HttpDate, HttpLimits, encode_response, max_request_bytes
from nacosfast.wire.message import ParamEncodingError, Request, Response, parse_form

FORM = b"Content-Type: application/x-www-form-urlencoded\r\n"


class Parsed:
    """A response parsed back with llhttp (httptools' response parser)."""

    def __init__(self, data: bytes) -> None:
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.body = b""
        self.complete = False
        parser = httptools.HttpResponseParser(self)
        parser.feed_data(data)
        self.status = parser.get_status_code()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


def one(data: bytes, conn: HttpConnection | None = None) -> Request:
    conn = conn or HttpConnection()
    requests = conn.feed(data)
    assert conn.error is None
    assert len(requests) == 1
    return requests[0]


# --- parsing ----------------------------------------------------------------------------------------------


def test_feed_parses_method_path_query_headers_body() -> None:
    conn = HttpConnection(("10.0.0.7", 4242))
    request = one(
        b"POST /nacos/v1/ns/instance?serviceName=a&ip=1.2.3.4 HTTP/1.1\r\n"
        b"Host: x\r\nUser-Agent: Nacos-Java-Client:v1.4.1  \r\nX-Dup: first\r\nx-dup: second\r\n"
        b"Content-Length: 5\r\n\r\nhello",
        conn,
    )
    assert request.method == "POST"
    assert request.path == "/nacos/v1/ns/instance"
    assert request.query == b"serviceName=a&ip=1.2.3.4"
    assert request.headers[b"user-agent"] == b"Nacos-Java-Client:v1.4.1"  # trailing spaces trimmed
    assert request.headers[b"x-dup"] == b"first"
    assert request.body == b"hello"
    assert request.remote == ("10.0.0.7", 4242)
    assert request.keep_alive
    assert request.user_agent == "Nacos-Java-Client:v1.4.1"


def test_feed_returns_three_pipelined_requests_in_order() -> None:
    conn = HttpConnection()
    data = b"".join(f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(3))
    assert [r.path for r in conn.feed(data)] == ["/0", "/1", "/2"]


def test_feed_byte_by_byte_gives_the_same_requests() -> None:
    data = (
        b"PUT /a?x=1 HTTP/1.1\r\nHost: h\r\n" + FORM + b"Content-Length: 7\r\n\r\nb=2&c=3"
        b"GET /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    whole = HttpConnection().feed(data)
    conn = HttpConnection()
    pieces = [r for i in range(len(data)) for r in conn.feed(data[i : i + 1])]
    assert [(r.method, r.path, r.query, r.headers, r.body) for r in pieces] == [
        (r.method, r.path, r.query, r.headers, r.body) for r in whole
    ]
    assert [r.body for r in pieces] == [b"b=2&c=3", b"abcde"]


def test_feed_decodes_chunked_bodies_with_extensions_and_trailers() -> None:
    request = one(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nbeat\r\n7\r\n=%7B%7D\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    assert request.body == b"beat=%7B%7D"


def test_http11_is_keep_alive_and_connection_close_closes() -> None:
    conn = HttpConnection()
    request = one(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", conn)
    assert not request.keep_alive
    answer = conn.respond(request, Response())
    assert b"\r\nConnection: close\r\n" in answer
    assert conn.closing


def test_http10_closes_unless_it_asks_for_keep_alive() -> None:
    conn = HttpConnection()
    request = one(b"GET / HTTP/1.0\r\n\r\n", conn)
    assert not request.keep_alive
    assert b"Connection: close" in conn.respond(request, Response())
    conn = HttpConnection()
    request = one(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", conn)
    assert request.keep_alive
    answer = conn.respond(request, Response())
    assert b"\r\nConnection: keep-alive\r\n" in answer
    assert not conn.closing


def test_response_close_flag_closes_the_connection() -> None:
    conn = HttpConnection()
    request = one(b"GET / HTTP/1.1\r\n\r\n", conn)
    assert b"Connection: close" in conn.respond(request, Response(close=True))
    assert conn.closing


def test_data_after_a_closing_request_is_ignored_without_error() -> None:
    conn = HttpConnection()
    requests = conn.feed(b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
    assert [r.path for r in requests] == ["/a"]
    assert conn.error is None
    assert conn.feed(b"GET /c HTTP/1.1\r\n\r\n") == []


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"FOO / HTTP/1.1\r\n\r\n",  # invalid method
        b"GET / HTTP/1.1\nHost: a\n\n",  # bare LF
        b"GET /a b HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nX : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET /%ff HTTP/1.1\r\n\r\n",  # a path that is not UTF-8
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello
    ],
)
def test_malformed_requests_answer_400_and_close(data: bytes) -> None:
    conn = HttpConnection()
    assert conn.feed(data) == []
    assert conn.error is not None
    assert conn.error.status == 400
    answer = Parsed(conn.respond_error())
    assert answer.status == 400
    assert answer.headers[b"connection"] == b"close"
    assert answer.body.startswith(b"caused: ")
    assert conn.closing
    assert conn.feed(b"GET / HTTP/1.1\r\n\r\n") == []


def test_raw_utf8_in_the_request_target_is_read_as_utf8() -> None:
    """Tomcat takes raw UTF-8 in the target (curl sends it unescaped); llhttp alone would refuse it."""
    request = one("GET /a/é?serviceName=服务&x=%41 HTTP/1.1\r\nX-Name: 服务\r\n\r\n".encode())
    assert request.path == "/a/é"
    assert request.params == {"serviceName": "服务", "x": "A"}
    assert request.headers[b"x-name"] == "服务".encode()  # header values are left as they came
    request = one(b"\r\nGET /x?bad=\xff HTTP/1.1\r\n\r\n")
    with pytest.raises(ParamEncodingError):
        _ = request.params


def test_raw_octets_in_a_path_that_is_not_utf8_answer_400() -> None:
    conn = HttpConnection()
    assert conn.feed(b"GET /\xff HTTP/1.1\r\n\r\n") == []
    assert conn.error is not None
    assert conn.error.status == 400


def test_requests_before_a_malformed_one_are_still_returned() -> None:
    conn = HttpConnection()
    requests = conn.feed(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nBROKEN\r\n\r\n")
    assert [r.path for r in requests] == ["/a", "/b"]
    assert conn.error is not None
    assert conn.error.status == 400


def test_oversized_header_block_answers_431() -> None:
    conn = HttpConnection()
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 1000) for i in range(20))
    assert conn.feed(b"GET / HTTP/1.1\r\n" + filler + b"\r\n") == []
    assert conn.error is not None
    assert conn.error.status == 431
    assert Parsed(conn.respond_error()).status == 431


def test_a_head_just_under_the_limit_is_accepted() -> None:
    line = b"GET / HTTP/1.1\r\n"
    header = b"X-Big: " + b"v" * (MAX_HEADER_BYTES - 200) + b"\r\n"
    request = one(line + header + b"\r\n")
    assert len(request.headers[b"x-big"]) == MAX_HEADER_BYTES - 200


def test_an_unfinished_header_cannot_grow_past_the_limit() -> None:
    """One header line that never ends, arriving in pieces: refused before its end (memory bound)."""
    conn = HttpConnection()
    assert conn.feed(b"GET / HTTP/1.1\r\nX-Endless: ") == []
    fed = 0
    while conn.error is None:
        conn.feed(b"a" * 1000)
        fed += 1000
        assert fed <= MAX_HEADER_BYTES + 2 * PARSER_FEED_SLICE_BYTES
    assert conn.error.status == 431


def test_an_unfinished_header_in_one_big_read_is_refused() -> None:
    conn = HttpConnection()
    conn.feed(b"GET / HTTP/1.1\r\nX-Endless: " + b"a" * (4 * MAX_HEADER_BYTES))
    assert conn.error is not None
    assert conn.error.status == 431


def test_a_big_read_of_many_small_pipelined_requests_is_not_mistaken_for_a_big_head() -> None:
    data = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n" * 3000  # ~84 KiB, many feed slices
    conn = HttpConnection()
    assert len(conn.feed(data + b"GET /partial HTTP/1.1\r\nHost:")) == 3000
    assert conn.error is None
    assert conn.in_request


def test_declared_body_over_the_limit_answers_413_before_it_arrives() -> None:
    conn = HttpConnection()
    conn.feed(b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1))
    assert conn.error is not None
    assert conn.error.status == 413


def test_chunked_body_over_the_limit_answers_413() -> None:
    conn = HttpConnection(limits=HttpLimits(max_body_bytes=1000))
    conn.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(5):
        conn.feed(b"1f4\r\n" + b"x" * 500 + b"\r\n")
    assert conn.error is not None
    assert conn.error.status == 413


def test_body_at_the_limit_is_accepted() -> None:
    conn = HttpConnection(limits=HttpLimits(max_body_bytes=1000))
    request = one(b"POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000, conn)
    assert len(request.body) == 1000


def test_expect_100_continue_is_answered_once_while_the_body_is_awaited() -> None:
    conn = HttpConnection()
    head = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
    assert conn.feed(head) == []
    assert conn.take_interim() == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert conn.take_interim() == b""
    assert one(b"abc", conn).body == b"abc"


def test_expect_100_continue_is_not_sent_when_the_body_came_along() -> None:
    conn = HttpConnection()
    one(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc", conn)
    assert conn.take_interim() == b""


def test_upgrade_is_ignored_and_the_connection_closes_after_the_answer() -> None:
    conn = HttpConnection()
    request = one(b"GET / HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n", conn)
    assert not request.keep_alive
    assert b"Connection: close" in conn.respond(request, Response())


def test_upgrade_with_a_body_is_refused() -> None:
    conn = HttpConnection()
    conn.feed(b"POST / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 3\r\n\r\nabc")
    assert conn.error is not None
    assert conn.error.status == 400


def test_absolute_form_target_and_fragment_and_escapes_in_path() -> None:
    assert one(b"GET http://h:8848/nacos/v1?a=1 HTTP/1.1\r\n\r\n").path == "/nacos/v1"
    assert one(b"GET http://h:8848 HTTP/1.1\r\n\r\n").path == "/"
    request = one(b"GET /p#frag HTTP/1.1\r\n\r\n")
    assert (request.path, request.query) == ("/p", b"")
    assert one(b"GET /p?a=1#frag HTTP/1.1\r\n\r\n").query == b"a=1"
    assert one(b"GET /a%20b/%E4%BD%A0 HTTP/1.1\r\n\r\n").path == "/a b/你"
    assert one(b"OPTIONS * HTTP/1.1\r\n\r\n").path == "*"


def test_head_requests_get_headers_without_body() -> None:
    conn = HttpConnection()
    request = one(b"HEAD / HTTP/1.1\r\n\r\n", conn)
    answer = conn.respond(request, Response(body=b"hello"))
    assert answer.endswith(b"Content-Length: 5\r\n\r\n")


def test_more_distinct_header_fields_than_the_limit_answer_431() -> None:
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(MAX_HEADER_FIELDS))
    assert len(one(b"GET / HTTP/1.1\r\n" + fields + b"\r\n").headers) == MAX_HEADER_FIELDS
    repeated = b"X-F0: again\r\n" * 50  # repeated names keep nothing and do not count
    one(b"GET / HTTP/1.1\r\n" + fields + repeated + b"\r\n")
    conn = HttpConnection()
    conn.feed(b"GET / HTTP/1.1\r\n" + fields + b"X-One-More: v\r\n\r\n")
    assert conn.error is not None
    assert (conn.error.status, conn.error.body) == (
        431,
        b"caused: too many header fields (limit %d);" % MAX_HEADER_FIELDS,
    )


# --- memory accounting ------------------------------------------------------------------------------------


def test_buffered_need_and_remaining_follow_a_request_with_a_declared_length() -> None:
    conn = HttpConnection()
    assert (conn.buffered, conn.need, conn.remaining) == (0, 0, -1)
    conn.feed(b"POST /p HTTP/1.1\r\nContent-Le")
    assert conn.buffered == len(b"POST /p HTTP/1.1\r\nContent-Le")  # the head so far
    assert (conn.need, conn.remaining) == (-1, -1)  # unknown until the head is complete
    conn.feed(b"ngth: 100\r\n\r\n" + b"x" * 30)
    assert conn.remaining == 70
    assert conn.need - conn.buffered == 70
    assert conn.buffered >= 30
    requests = conn.feed(b"x" * 70 + b"GET /next")
    assert [r.body for r in requests] == [b"x" * 100]
    assert len(b"GET /next") <= conn.buffered <= 79  # an upper bound: the read the head began in
    assert conn.need == -1
    conn.feed(b" HTTP/1.1\r\n\r\n")
    assert (conn.buffered, conn.need, conn.remaining) == (0, 0, -1)


def test_a_chunked_body_may_need_up_to_the_body_limit() -> None:
    conn = HttpConnection(limits=HttpLimits(max_body_bytes=1000))
    conn.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    assert conn.remaining == -1
    assert conn.need - conn.buffered == 1000 - 5
    assert conn.need <= conn.max_need == max_request_bytes(MAX_HEADER_BYTES, 1000)


_REQUESTS = st.one_of(
    st.builds(lambda n: b"GET /g?q=%d HTTP/1.1\r\nHost: h\r\n\r\n" % n, st.integers(0, 10**6)),
    st.binary(max_size=3000).map(
        lambda body: b"POST /p HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    ),
    st.lists(st.binary(min_size=1, max_size=700), max_size=5).map(
        lambda chunks: (
            b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
            + b"0\r\n\r\n"
        )
    ),
    st.integers(0, 2000).map(lambda n: b"GET /h HTTP/1.1\r\nX-Long: %s\r\n\r\n" % (b"v" * n)),
)


@given(st.lists(_REQUESTS, min_size=1, max_size=6), st.lists(st.integers(1, 5000), max_size=40))
def test_buffered_grows_by_at_most_the_bytes_fed_and_bounds_the_partial_request(
    requests: list[bytes], cuts: list[int]
) -> None:
    """The budget's premises: whatever the split, ``buffered`` <= before + fed, <= need <= max_need."""
    data = b"".join(requests)
    conn = HttpConnection()
    done: list[Request] = []
    position = 0
    for size in [*cuts, len(data)]:
        piece = data[position : position + size]
        position += len(piece)
        before = conn.buffered
        done += conn.feed(piece)
        assert conn.error is None
        assert conn.buffered <= before + len(piece)
        assert (conn.buffered > 0) == conn.in_request
        assert conn.buffered <= conn.max_need
        if conn.need >= 0:
            assert conn.buffered <= conn.need <= conn.max_need
        if conn.remaining >= 0:
            assert conn.need - conn.buffered == conn.remaining
    assert len(done) == len(requests)
    assert conn.buffered == 0


@contextlib.contextmanager
def allocated() -> Iterator[list[int]]:
    """Bytes still allocated (traced) at the end of the block, put in the yielded list."""
    result: list[int] = []
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        yield result
        result.append(tracemalloc.get_traced_memory()[0] - start)
    finally:
        tracemalloc.stop()


def test_a_body_of_tiny_chunks_costs_its_bytes_not_an_object_per_chunk() -> None:
    conn = HttpConnection()
    conn.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunks = b"2\r\nxy\r\n" * 50_000  # (1-byte objects would be CPython's shared singletons)
    with allocated() as held:
        conn.feed(chunks)
        assert conn.in_request
    assert held[0] < 300_000  # 100 kB of body; one object per chunk would be ~2 MB
    request = one(b"0\r\n\r\n", conn)
    assert request.body == b"xy" * 50_000


def test_a_request_target_in_tiny_pieces_costs_its_bytes_not_an_object_per_piece() -> None:
    conn = HttpConnection()
    conn.feed(b"GET /")
    with allocated() as held:
        for _ in range(7_000):
            conn.feed(b"ab")
    assert held[0] < 60_000  # 14 kB of target; one object per piece would be ~300 kB
    assert one(b" HTTP/1.1\r\n\r\n", conn).path == "/" + "ab" * 7_000


def test_nothing_of_a_request_stays_with_the_connection_once_it_is_complete_or_refused() -> None:
    body = b"x" * 512 * 1024
    conn = HttpConnection()
    with allocated() as held:
        requests = conn.feed(b"POST / HTTP/1.1\r\nX-A: 1\r\nContent-Length: %d\r\n\r\n" % len(body))
        for start in range(0, len(body), 4096):
            requests += conn.feed(body[start : start + 4096])
        assert [r.body for r in requests] == [body]
        del requests
    assert held[0] < 32 * 1024
    refused = HttpConnection(limits=HttpLimits(max_body_bytes=len(body) - 1))
    refused.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    with allocated() as held:
        for start in range(0, len(body), 4096):
            refused.feed(b"1000\r\n" + body[start : start + 4096] + b"\r\n")
        assert refused.error is not None
        assert refused.error.status == 413
    assert held[0] < 32 * 1024  # the 413 may linger; the body received so far is gone


def test_timeouts_head_then_request_then_idle() -> None:
    conn = HttpConnection(
        limits=HttpLimits(head_timeout_ms=10, request_timeout_ms=30, idle_timeout_ms=60), now_ms=1000
    )
    assert conn.deadline_ms == 1060
    assert conn.timeout_response() is None
    conn.feed(b"POST / HTTP/1.1\r\n", now_ms=2000)
    assert conn.in_request
    assert conn.deadline_ms == 2010
    conn.feed(b"Content-Length: 2\r\n\r\n", now_ms=2005)
    assert conn.deadline_ms == 2030
    timeout = conn.timeout_response()
    assert timeout is not None
    assert timeout.status == 408
    assert len(conn.feed(b"ab", now_ms=2020)) == 1
    assert [conn.in_request] == [False]  # (a list: mypy keeps the earlier narrowing otherwise)
    conn.mark_idle(2025)
    assert conn.deadline_ms == 2085


# --- encoding ---------------------------------------------------------------------------------------------


def test_encode_response_shapes() -> None:
    assert encode_response(Response(), keep_alive=True) == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 2\r\n\r\nok"
    )
    answer = encode_response(
        Response(status=404, body=b"{}", content_type=b"application/json", headers=[(b"X-A", b"1")]),
        keep_alive=False,
    )
    assert answer == (
        b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        b"Connection: close\r\nX-A: 1\r\n\r\n{}"
    )
    assert (
        encode_response(Response(status=204, body=b""), keep_alive=True) == b"HTTP/1.1 204 No Content\r\n\r\n"
    )
    assert encode_response(Response(status=299), keep_alive=True).startswith(b"HTTP/1.1 299 Unknown\r\n")


def test_http_date_is_the_date_header_of_the_connections_that_share_it() -> None:
    date = HttpDate()
    first, second = HttpConnection(date=date), HttpConnection(date=date)
    request = first.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")[0]
    assert b"date" not in Parsed(first.respond(request, Response())).headers  # not refreshed yet
    date.refresh(784_111_777_999)
    for conn in (first, second):
        parsed = Parsed(conn.respond(request, Response()))
        assert parsed.headers[b"date"] == b"Sun, 06 Nov 1994 08:49:37 GMT"
        assert parsed.body == b"ok"
    other = HttpConnection(date=HttpDate())  # another server's connections: their own Date
    assert b"date" not in Parsed(other.respond(request, Response())).headers


def test_http_date_changes_with_the_second() -> None:
    date = HttpDate()
    date.refresh(784_111_777_000)
    line = date.line
    date.refresh(784_111_777_999)
    assert date.line is line  # same second: not formatted again
    date.refresh(784_111_778_000)
    assert date.line == b"Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n"


# --- parameters ---------------------------------------------------------------------------------------


def params(query: bytes = b"", body: bytes = b"", content_type: bytes | None = b"") -> dict[str, str]:
    headers = {b"content-type": content_type} if content_type else {}
    return Request("GET", "/", query, headers, body).params


def test_params_merge_query_then_form_body_first_value_wins() -> None:
    got = params(b"a=1&b=2&a=3", b"b=4&c=5&c=6", b"application/x-www-form-urlencoded")
    assert got == {"a": "1", "b": "2", "c": "5"}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "POST", "GET"])
def test_form_body_params_on_every_method(method: str) -> None:
    request = one(method.encode() + b" /x?a=1 HTTP/1.1\r\n" + FORM + b"Content-Length: 11\r\n\r\nb=2&a=ignor")
    assert request.params == {"a": "1", "b": "2"}


def test_body_is_form_only_for_the_form_content_type() -> None:
    assert params(body=b"a=1", content_type=b"application/json") == {}
    assert params(body=b"a=1", content_type=None) == {}
    assert params(body=b"a=1", content_type=b"Application/X-WWW-Form-Urlencoded; charset=UTF-8") == {"a": "1"}
    assert params(body=b"a=1", content_type=b"application/x-www-form-urlencodedX") == {}


def test_params_decoding_rules() -> None:
    got = params(b"sp=a+b&plus=%2B&pct=%E4%BD%A0&trim=+x+&none&=skipped&eq=a=b&bad=%zz&end=%&lower=%e4%bd%a0")
    assert got == {
        "sp": "a b",
        "plus": "+",
        "pct": "你",
        "trim": " x ",  # values are not trimmed here; the application trims where Nacos does
        "none": "",
        "eq": "a=b",
        "bad": "%zz",
        "end": "%",
        "lower": "你",
    }


def test_raw_utf8_octets_decode_as_utf8() -> None:
    assert params("a=你&b=é".encode()) == {"a": "你", "b": "é"}
    form = b"application/x-www-form-urlencoded"
    assert params(body="name=服务+1".encode(), content_type=form) == {"name": "服务 1"}


@pytest.mark.parametrize("query", [b"a=1&b=%ff", b"a=1&b=\xff", b"a=1&b=%C3", b"%ff=1", b"b=%ED%A0%80"])
def test_invalid_utf8_params_raise_a_400_error(query: bytes) -> None:
    request = Request("GET", "/", query)
    with pytest.raises(UnicodeDecodeError) as caught:
        _ = request.params
    error = caught.value
    assert isinstance(error, ParamEncodingError)
    assert isinstance(error, BadRequest)
    assert isinstance(error, NacosError)
    assert error.status == 400
    assert error.body().startswith(b"caused: ")
    if not query.startswith(b"%ff"):
        assert error.body() == b"caused: Param 'b' is not valid UTF-8;"


def _reference(source: bytes) -> dict[str, str]:
    """The obvious (slow) implementation: split, '+' to space, unquote_to_bytes, UTF-8."""
    out: dict[str, str] = {}
    for pair in source.split(b"&"):
        raw_key, _, raw_value = pair.partition(b"=")
        key = unquote_to_bytes(raw_key.replace(b"+", b" ")).decode("utf-8")
        value = unquote_to_bytes(raw_value.replace(b"+", b" ")).decode("utf-8")
        if key and key not in out:
            out[key] = value
    return out


_PIECES = st.sampled_from(
    [
        *(
            b"a",
            b"Z",
            b"0",
            b"9",
            b"f",
            b"F",
            b"%",
            b"+",
            b"=",
            b"&",
            b" ",
            b"\t",
            b"\n",
            b"\r",
            b"%2",
            b"%41",
        ),
        *(
            b"%e4%bd%a0",
            b"%E4%BD",
            "é".encode(),
            b"\xff",
            b"\xc3",
            b"%00",
            b"%3D",
            b"%26",
            b"%2B",
            b"_",
            b"-",
        ),
    ]
)


@given(st.lists(_PIECES, max_size=30).map(b"".join))
def test_parse_form_matches_the_reference_decoder(source: bytes) -> None:
    try:
        expected: dict[str, str] | None = _reference(source)
    except UnicodeDecodeError:
        expected = None
    got: dict[str, str] = {}
    if expected is None:
        with pytest.raises(ParamEncodingError):
            parse_form(source, got)
    else:
        parse_form(source, got)
        assert got == expected
