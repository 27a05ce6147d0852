"""The Trio HTTP shell (nacosfast.server.http): memory streams (virtual clock) and loopback sockets."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import cast

import httptools
import pytest
import trio
import trio.testing

from nacosfast.errors import NotFound
from nacosfast.limits import (
    KEEPALIVE_IDLE_TIMEOUT_MS,
    MAX_BODY_BYTES,
    MAX_PIPELINED_REQUESTS,
    REQUEST_HEAD_TIMEOUT_MS,
)
from nacosfast.server.http import Handler, HttpLimits, WaitDurable, serve_http, serve_stream
from nacosfast.wire.http_limits import DEFAULT_HTTP_LIMITS
from nacosfast.wire.message import PendingAnswer, Request, Response

# --- helpers ----------------------------------------------------------------------------------------------

CLOSE_WITHIN_S = 5.0
"""How soon a close the test expects must come (well below the idle timeout, which closes anyway)."""
MEMORY_TEST_TIMEOUT_S = 30.0
"""Bound on one memory-stream test (virtual seconds under ``autojump_clock``): a hang fails it."""


class Answer:
    """One parsed response."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.body = b""


class Reader:
    """Client side: parses the responses arriving on a stream with llhttp."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self.stream = stream
        self.done: list[Answer] = []
        self.current = Answer()
        self.parser = httptools.HttpResponseParser(self)
        self.eof = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.current.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.current.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.current.body += body

    def on_message_complete(self) -> None:
        self.done.append(self.current)
        self.current = Answer()

    async def answers(self, count: int) -> list[Answer]:
        """Read until ``count`` responses (or EOF) arrived; return and forget them."""
        while len(self.done) < count and not self.eof:
            data = await self.stream.receive_some(65536)
            if not data:
                self.eof = True
                break
            self.parser.feed_data(data)
        out, self.done = self.done[:count], self.done[count:]
        assert len(out) == count, f"expected {count} answers, got {len(out)} before EOF"
        return out

    async def answer(self) -> Answer:
        return (await self.answers(1))[0]

    async def closed(self, within_s: float = CLOSE_WITHIN_S) -> bool:
        """Whether the server closes the stream within ``within_s`` (after any pending answers)."""
        with trio.move_on_after(within_s):
            while not self.eof:
                data = await self.stream.receive_some(65536)
                if not data:
                    self.eof = True
                else:
                    self.parser.feed_data(data)
        return self.eof


def echo(request: Request) -> Response:
    """Answers ``<METHOD> <path> <sorted params>`` so tests see what the handler saw."""
    try:
        params = request.params
    except UnicodeDecodeError:
        return Response(status=400, body=b"caused: bad encoding;")
    text = f"{request.method} {request.path} {sorted(params.items())}"
    return Response(body=text.encode() + b"|" + request.body)


async def durable_now(seq: int) -> None:
    return None


@asynccontextmanager
async def memory_server(
    handler: Handler = echo,
    wait_durable: WaitDurable = durable_now,
    limits: HttpLimits = DEFAULT_HTTP_LIMITS,
    *,
    timeout_s: float = MEMORY_TEST_TIMEOUT_S,
) -> AsyncIterator[tuple[trio.abc.Stream, Reader]]:
    """``serve_stream`` over a memory stream; the whole ``async with`` body fails after ``timeout_s``."""
    client, server = trio.testing.memory_stream_pair()
    with trio.fail_after(timeout_s):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: serve_stream(server, handler, wait_durable, limits=limits))
            yield client, Reader(client)
            nursery.cancel_scope.cancel()


GET = b"GET /a?x=1 HTTP/1.1\r\nHost: t\r\n\r\n"


# --- memory streams ---------------------------------------------------------------------------------------


async def test_three_pipelined_requests_in_one_packet_get_three_answers_in_order() -> None:
    async with memory_server() as (client, reader):
        await client.send_all(b"".join(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(3)))
        answers = await reader.answers(3)
        assert [a.body.split(b" ")[1] for a in answers] == [b"/0", b"/1", b"/2"]


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    async with memory_server() as (client, reader):
        for i in range(3):
            await client.send_all(b"GET /k%d HTTP/1.1\r\n\r\n" % i)
            answer = await reader.answer()
            assert answer.status == 200
            assert answer.body.startswith(b"GET /k%d " % i)
            assert b"connection" not in answer.headers


async def test_connection_close_is_answered_then_closed() -> None:
    async with memory_server() as (client, reader):
        await client.send_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        answer = await reader.answer()
        assert answer.headers[b"connection"] == b"close"
        assert await reader.closed()


async def test_http10_without_keep_alive_closes_after_the_answer() -> None:
    async with memory_server() as (client, reader):
        await client.send_all(b"GET / HTTP/1.0\r\n\r\n")
        assert (await reader.answer()).status == 200
        assert await reader.closed()


async def test_chunked_body_reaches_the_handler() -> None:
    async with memory_server() as (client, reader):
        await client.send_all(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await trio.testing.wait_all_tasks_blocked()
        await client.send_all(b"2\r\nde\r\n0\r\n\r\n")
        assert (await reader.answer()).body.endswith(b"|abcde")


@pytest.mark.parametrize("method", [b"PUT", b"DELETE"])
async def test_form_params_on_put_and_delete_first_value_wins(method: bytes) -> None:
    async with memory_server() as (client, reader):
        body = b"ip=2.2.2.2&port=8080&serviceName=ignored"
        await client.send_all(
            method + b" /nacos/v1/ns/instance?serviceName=s1&serviceName=s2 HTTP/1.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n"
            % len(body)
            + body
        )
        answer = await reader.answer()
        assert answer.body.split(b"|")[0] == (
            method + b" /nacos/v1/ns/instance [('ip', '2.2.2.2'), ('port', '8080'), ('serviceName', 's1')]"
        )


async def test_invalid_utf8_params_surface_as_an_error_the_app_turns_into_400() -> None:
    async with memory_server() as (client, reader):
        await client.send_all(b"GET /x?serviceName=%ff HTTP/1.1\r\n\r\n")
        answer = await reader.answer()
        assert (answer.status, answer.body) == (400, b"caused: bad encoding;")


async def test_a_handler_that_lets_a_param_error_escape_still_answers_400() -> None:
    def careless(request: Request) -> Response:
        return Response(body=request.params["a"].encode())

    async with memory_server(careless) as (client, reader):
        await client.send_all(b"GET /x?a=%C3 HTTP/1.1\r\n\r\nGET /x?a=%C3%A9 HTTP/1.1\r\n\r\n")
        first, second = await reader.answers(2)
        assert (first.status, first.body) == (400, b"caused: Param 'a' is not valid UTF-8;")
        assert (second.status, second.body) == (200, "é".encode())


async def test_oversized_headers_answer_431_and_close() -> None:
    async with memory_server() as (client, reader):
        await client.send_all(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
        answer = await reader.answer()
        assert answer.status == 431
        assert answer.headers[b"connection"] == b"close"
        assert await reader.closed()


async def test_oversized_body_answers_413_and_close() -> None:
    async with memory_server() as (client, reader):
        await client.send_all(b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1))
        answer = await reader.answer()
        assert answer.status == 413
        assert await reader.closed()


async def test_garbage_answers_400_and_close() -> None:
    async with memory_server() as (client, reader):
        await client.send_all(b"\x16\x03\x01 not http at all\r\n\r\n")
        answer = await reader.answer()
        assert answer.status == 400
        assert answer.body.startswith(b"caused: malformed HTTP request")
        assert await reader.closed()


async def test_requests_before_garbage_are_answered_first() -> None:
    async with memory_server() as (client, reader):
        await client.send_all(GET + b"BROKEN\r\n\r\n")
        ok, bad = await reader.answers(2)
        assert (ok.status, bad.status) == (200, 400)
        assert await reader.closed()


async def test_slowloris_head_times_out_with_408(autojump_clock: trio.testing.MockClock) -> None:
    async with memory_server() as (client, reader):
        start = trio.current_time()
        await client.send_all(b"GET / HTTP/1.1\r\nHost: t\r\n")
        for _ in range(100):  # trickle a header byte every second: never enough
            await trio.sleep(1)
            try:
                await client.send_all(b"X")
            except trio.BrokenResourceError:  # the server closed its side
                break
        answer = await reader.answer()
        assert answer.status == 408
        assert await reader.closed()
        assert (
            REQUEST_HEAD_TIMEOUT_MS / 1000
            <= trio.current_time() - start
            <= REQUEST_HEAD_TIMEOUT_MS / 1000 + 2
        )


async def test_idle_connection_is_closed_after_the_idle_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with memory_server(timeout_s=2 * KEEPALIVE_IDLE_TIMEOUT_MS / 1000) as (client, reader):
        await client.send_all(GET)
        await reader.answer()
        start = trio.current_time()
        assert await reader.closed(within_s=KEEPALIVE_IDLE_TIMEOUT_MS / 1000 + 1)
        assert reader.done == []  # closed without a word
        assert trio.current_time() - start == pytest.approx(KEEPALIVE_IDLE_TIMEOUT_MS / 1000, abs=0.01)


async def test_handler_exception_answers_500_and_the_connection_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def flaky(request: Request) -> Response:
        if request.path == "/boom":
            raise RuntimeError("kaboom")
        if request.path == "/missing":
            raise NotFound("no service x found!")
        return Response(body=b"fine")

    with caplog.at_level(logging.ERROR, logger="nacosfast.http"):
        async with memory_server(flaky) as (client, reader):
            await client.send_all(
                b"GET /boom HTTP/1.1\r\n\r\nGET /missing HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n"
            )
            boom, missing, fine = await reader.answers(3)
    assert (boom.status, boom.body) == (500, b"caused: internal server error;")
    assert (missing.status, missing.body) == (404, b"caused: no service x found!;")
    assert (fine.status, fine.body) == (200, b"fine")
    assert "kaboom" in caplog.text


def durable_handler(request: Request) -> Response:
    seq = int(request.path.strip("/") or 0)
    return Response(body=request.path.encode(), durable_seq=seq)


async def test_durable_answers_wait_for_the_log_and_keep_their_order() -> None:
    released: dict[int, trio.Event] = {1: trio.Event(), 2: trio.Event()}
    waited: list[int] = []

    async def wait_durable(seq: int) -> None:
        waited.append(seq)
        await released[seq].wait()

    async with memory_server(durable_handler, wait_durable) as (client, reader):
        # /1 waits for record 1; /0 is not a write; /2 waits for record 2.
        await client.send_all(b"POST /1 HTTP/1.1\r\n\r\nGET /0 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\n\r\n")
        await trio.testing.wait_all_tasks_blocked()
        assert waited == [1]
        with trio.move_on_after(0.01):
            await reader.answers(1)
        assert reader.done == []  # nothing before record 1 is durable
        released[1].set()
        first, second = await reader.answers(2)
        assert [first.body, second.body] == [b"/1", b"/0"]
        await trio.testing.wait_all_tasks_blocked()
        assert waited == [1, 2]
        released[2].set()
        assert (await reader.answer()).body == b"/2"


async def test_durable_failure_answers_503() -> None:
    async def broken_disk(seq: int) -> None:
        raise OSError(28, "No space left on device")

    async with memory_server(durable_handler, broken_disk) as (client, reader):
        await client.send_all(b"POST /7 HTTP/1.1\r\n\r\nGET /0 HTTP/1.1\r\n\r\n")
        failed, after = await reader.answers(2)
        assert failed.status == 503
        assert failed.body == b"caused: write not durable: [Errno 28] No space left on device;"
        assert after.status == 200


async def test_durable_wait_that_never_ends_answers_503_after_the_response_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def stuck(seq: int) -> None:
        await trio.sleep_forever()

    limits = HttpLimits(response_timeout_ms=5_000)
    async with memory_server(durable_handler, stuck, limits) as (client, reader):
        start = trio.current_time()
        await client.send_all(b"POST /3 HTTP/1.1\r\n\r\n")
        answer = await reader.answer()
        assert answer.status == 503
        assert trio.current_time() - start == pytest.approx(5.0)
        assert await reader.closed()


async def test_expect_100_continue_gets_an_interim_answer() -> None:
    async with memory_server() as (client, reader):
        await client.send_all(b"PUT /e HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        data = await client.receive_some(1000)
        assert data == b"HTTP/1.1 100 Continue\r\n\r\n"
        await client.send_all(b"abc")
        assert (await reader.answer()).body.endswith(b"|abc")


async def test_cancelling_serve_stream_closes_the_stream() -> None:
    client, server = trio.testing.memory_stream_pair()
    with trio.fail_after(MEMORY_TEST_TIMEOUT_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_stream, server, echo, durable_now)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        assert await client.receive_some(10) == b""


async def test_reader_sees_a_keep_alive_connection_stay_open_until_the_idle_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    idle_s = KEEPALIVE_IDLE_TIMEOUT_MS / 1000
    async with memory_server(timeout_s=2 * idle_s) as (client, reader):
        await client.send_all(GET)
        assert (await reader.answer()).status == 200
        assert not await reader.closed(within_s=idle_s - 1)  # open: ``closed`` can say so
        assert await reader.closed(within_s=2)  # and then the idle timeout closes it


async def test_a_hung_memory_stream_test_fails_instead_of_stalling(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def never(seq: int) -> None:
        await trio.sleep_forever()

    async def hung_test() -> None:
        limits = HttpLimits(response_timeout_ms=10 * 60_000)
        async with memory_server(durable_handler, never, limits, timeout_s=5) as (client, reader):
            await client.send_all(b"POST /1 HTTP/1.1\r\n\r\n")
            await reader.answer()  # never comes: the durable wait outlasts the test's bound

    with pytest.raises(trio.TooSlowError):
        await hung_test()


# --- loopback sockets (real clock: autojump would jump past real I/O) ------------------------------------


@asynccontextmanager
async def socket_server(
    handler: Handler = echo, wait_durable: WaitDurable = durable_now, limits: HttpLimits = DEFAULT_HTTP_LIMITS
) -> AsyncIterator[tuple[int, trio.CancelScope]]:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            lambda task_status: serve_http(
                handler, wait_durable, "127.0.0.1", 0, limits=limits, task_status=task_status
            )
        )
        yield port, nursery.cancel_scope
        nursery.cancel_scope.cancel()


async def connect(port: int) -> tuple[trio.SocketStream, Reader]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    return stream, Reader(stream)


async def test_serve_http_answers_keep_alive_and_pipelined_requests() -> None:
    with trio.fail_after(10):
        async with socket_server() as (port, _):
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(GET)
                answer = await reader.answer()
                assert answer.status == 200
                assert answer.body.startswith(b"GET /a [('x', '1')]")
                assert b"date" in answer.headers
                await stream.send_all(b"".join(b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(50)))
                answers = await reader.answers(50)
                assert [a.body.split(b" ")[1] for a in answers] == [b"/%d" % i for i in range(50)]
                await stream.send_all(b"GET /last HTTP/1.1\r\nConnection: close\r\n\r\n")
                assert (await reader.answer()).headers[b"connection"] == b"close"
                assert await reader.closed()


async def test_serve_http_sends_big_answers_that_do_not_fit_the_socket_buffer() -> None:
    big = bytes(range(256)) * 40_000  # 10 MB: many partial sends

    def large(request: Request) -> Response:
        return Response(body=big, content_type=b"application/octet-stream")

    with trio.fail_after(20):
        async with socket_server(large) as (port, _):
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(GET + GET)
                first, second = await reader.answers(2)
                assert first.body == big
                assert second.body == big


async def test_serve_http_closes_connections_past_the_limit() -> None:
    with trio.fail_after(10):
        async with socket_server(limits=HttpLimits(max_connections=1)) as (port, _):
            first, first_reader = await connect(port)
            await first.send_all(GET)
            assert (await first_reader.answer()).status == 200
            second, second_reader = await connect(port)
            async with second:
                assert await second_reader.closed()
                assert second_reader.done == []
            async with first:
                await first.send_all(GET)
                assert (await first_reader.answer()).status == 200


async def test_serve_http_closes_idle_and_slow_connections() -> None:
    limits = HttpLimits(idle_timeout_ms=300, head_timeout_ms=300, tick_ms=50)
    with trio.fail_after(10):
        async with socket_server(limits=limits) as (port, _):
            idle, idle_reader = await connect(port)
            slow, slow_reader = await connect(port)
            async with idle, slow:
                await idle.send_all(GET)
                assert (await idle_reader.answer()).status == 200
                await slow.send_all(b"GET / HTTP/1.1\r\nHost:")
                start = trio.current_time()
                assert await idle_reader.closed()
                assert (await slow_reader.answer()).status == 408
                assert await slow_reader.closed()
                assert 0.25 <= trio.current_time() - start <= 2


async def test_serve_http_survives_a_handler_exception() -> None:
    def sometimes(request: Request) -> Response:
        if request.path == "/boom":
            raise ValueError("boom")
        return Response()

    with trio.fail_after(10):
        async with socket_server(sometimes) as (port, _):
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(b"GET /boom HTTP/1.1\r\n\r\n")
                assert (await reader.answer()).status == 500
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(GET)
                assert (await reader.answer()).status == 200


async def test_serve_http_a_broken_answer_costs_one_connection_not_the_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(request: Request) -> Response:
        if request.path == "/broken":
            return Response(body=cast(bytes, None))  # a bug in the application: not bytes
        return Response()

    with trio.fail_after(10), caplog.at_level(logging.ERROR, logger="nacosfast.http"):
        async with socket_server(broken) as (port, _):
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(b"GET /broken HTTP/1.1\r\n\r\n")
                assert await reader.closed()
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(GET)
                assert (await reader.answer()).status == 200
    assert "connection from" in caplog.text


async def test_serve_http_garbage_then_close_does_not_reset_the_answer() -> None:
    with trio.fail_after(10):
        async with socket_server() as (port, _):
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(b"BROKEN / HTTP/1.1\r\n\r\n" + b"x" * 100_000)
                assert (await reader.answer()).status == 400
                assert await reader.closed()


async def test_shutdown_answers_requests_already_parsed_within_the_grace() -> None:
    release = trio.Event()
    entered = trio.Event()

    async def wait_durable(seq: int) -> None:
        entered.set()
        await release.wait()

    limits = HttpLimits(shutdown_grace_ms=5_000)
    with trio.fail_after(10):
        async with trio.open_nursery() as outer:
            server_scope = trio.CancelScope()

            async def run_server(task_status: trio.TaskStatus[int]) -> None:
                with server_scope:
                    await serve_http(
                        durable_handler, wait_durable, "127.0.0.1", 0, limits=limits, task_status=task_status
                    )

            port = await outer.start(run_server)
            stream, reader = await connect(port)
            idle, idle_reader = await connect(port)
            async with stream, idle:
                await idle.send_all(GET)
                await idle_reader.answer()
                await stream.send_all(b"POST /1 HTTP/1.1\r\n\r\n")
                await entered.wait()
                server_scope.cancel()
                assert await idle_reader.closed()  # idle connections close at once
                release.set()  # the log catches up during the grace
                answer = await reader.answer()
                assert (answer.status, answer.body) == (200, b"/1")
                assert await reader.closed()
        with pytest.raises(ConnectionRefusedError):  # the listener is gone
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


async def test_shutdown_gives_up_on_a_stuck_durable_wait_after_the_grace() -> None:
    async def stuck(seq: int) -> None:
        await trio.sleep_forever()

    limits = HttpLimits(shutdown_grace_ms=200)
    with trio.fail_after(10):
        async with socket_server(durable_handler, stuck, limits) as (port, scope):
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(b"POST /1 HTTP/1.1\r\n\r\n")
                await trio.sleep(0.05)
                start = trio.current_time()
                scope.cancel()
                answer = await reader.answer()
                assert answer.status == 503
                assert await reader.closed()
                assert trio.current_time() - start < 2


async def test_serve_http_durable_answers_keep_order_and_the_connection_goes_on() -> None:
    released: dict[int, trio.Event] = {seq: trio.Event() for seq in (1, 2, 3)}
    entered: dict[int, trio.Event] = {seq: trio.Event() for seq in (1, 2, 3)}

    async def wait_durable(seq: int) -> None:
        entered[seq].set()
        await released[seq].wait()

    with trio.fail_after(10):
        async with socket_server(durable_handler, wait_durable) as (port, _):
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(
                    b"POST /1 HTTP/1.1\r\n\r\nGET /0 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\n\r\n"
                )
                await entered[1].wait()
                await stream.send_all(b"GET /0 HTTP/1.1\r\n\r\n")  # more while the first waits
                with trio.move_on_after(0.1):
                    await reader.answers(1)
                assert reader.done == []
                released[1].set()
                assert [a.body for a in await reader.answers(2)] == [b"/1", b"/0"]
                await entered[2].wait()
                released[2].set()
                assert [a.body for a in await reader.answers(2)] == [b"/2", b"/0"]
                await stream.send_all(b"POST /3 HTTP/1.1\r\n\r\n")
                await entered[3].wait()
                released[3].set()
                assert (await reader.answer()).body == b"/3"
                await stream.send_all(b"GET /0 HTTP/1.1\r\n\r\n")
                assert (await reader.answer()).status == 200


async def park_behind_first_write(port: int, entered: trio.Event) -> list[tuple[trio.SocketStream, Reader]]:
    """Three connections: the first's write waits for the log (``entered``), then the other two
    write and park behind that wait. The caller releases it."""
    connections = [await connect(port) for _ in range(3)]
    await connections[0][0].send_all(b"POST /1 HTTP/1.1\r\n\r\n")
    await entered.wait()
    for seq, (stream, _) in zip((2, 3), connections[1:], strict=True):
        await stream.send_all(b"POST /%d HTTP/1.1\r\n\r\n" % seq)
    await trio.sleep(0.1)  # both parked behind the first wait
    return connections


async def test_serve_http_waits_once_for_a_batch_of_durable_answers() -> None:
    release = trio.Event()
    entered = trio.Event()
    waited: list[int] = []

    async def wait_durable(seq: int) -> None:
        waited.append(seq)
        entered.set()
        await release.wait()

    with trio.fail_after(10):
        async with socket_server(durable_handler, wait_durable) as (port, _):
            connections = await park_behind_first_write(port, entered)
            release.set()
            for seq, (stream, reader) in enumerate(connections, 1):
                assert (await reader.answer()).body == b"/%d" % seq
                await stream.aclose()
            assert waited == [1, 3, 2]  # 3 decides the batch; 2 is then only checked


async def test_serve_http_a_refused_write_fails_only_its_own_answer_in_a_batch() -> None:
    release = trio.Event()
    entered = trio.Event()

    async def wait_durable(seq: int) -> None:
        entered.set()
        await release.wait()
        if seq == 2:  # refused by the disk and undone, while 3 (a later round) became durable
            raise OSError(28, "No space left on device")

    with trio.fail_after(10):
        async with socket_server(durable_handler, wait_durable) as (port, _):
            connections = await park_behind_first_write(port, entered)
            release.set()
            statuses = []
            for stream, reader in connections:
                statuses.append((await reader.answer()).status)
                await stream.aclose()
            assert statuses == [200, 503, 200]


async def test_serve_http_durable_failure_answers_503_and_goes_on() -> None:
    async def broken_disk(seq: int) -> None:
        raise OSError(5, "Input/output error")

    with trio.fail_after(10):
        async with socket_server(durable_handler, broken_disk) as (port, _):
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(b"POST /4 HTTP/1.1\r\n\r\n")
                answer = await reader.answer()
                assert (answer.status, answer.body) == (
                    503,
                    b"caused: write not durable: [Errno 5] Input/output error;",
                )
                await stream.send_all(b"GET /0 HTTP/1.1\r\n\r\n")
                assert (await reader.answer()).status == 200


async def test_serve_http_answers_more_pipelined_requests_than_one_turn_allows() -> None:
    count = 3 * MAX_PIPELINED_REQUESTS + 7
    with trio.fail_after(10):
        async with socket_server() as (port, _):
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(b"".join(b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(count)))
                answers = await reader.answers(count)
                assert [a.body.split(b" ")[1] for a in answers] == [b"/%d" % i for i in range(count)]
                await stream.send_all(GET)
                assert (await reader.answer()).status == 200


async def test_serve_http_many_pipelining_connections_all_get_their_answers() -> None:
    per_connection = 200  # 8 x 200 requests arrive together: more than one turn of the hub
    with trio.fail_after(20):
        async with socket_server() as (port, _):
            connections = [await connect(port) for _ in range(8)]
            batch = b"".join(b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(per_connection))
            for stream, _reader in connections:
                await stream.send_all(batch)
            for stream, reader in connections:
                answers = await reader.answers(per_connection)
                assert [a.body.split(b" ")[1] for a in answers] == [b"/%d" % i for i in range(per_connection)]
                await stream.aclose()


async def test_serve_http_expect_100_continue() -> None:
    with trio.fail_after(10):
        async with socket_server() as (port, _):
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(b"PUT /e HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
                assert await stream.receive_some(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
                await stream.send_all(b"abc")
                assert (await reader.answer()).body.endswith(b"|abc")


async def test_serve_http_client_that_disconnects_mid_request_is_forgotten() -> None:
    with trio.fail_after(10):
        async with socket_server() as (port, _):
            for _ in range(5):
                stream, _reader = await connect(port)
                await stream.send_all(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")
                await stream.aclose()
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(GET)
                assert (await reader.answer()).status == 200


def test_handler_type_is_a_plain_callable() -> None:
    handler: Callable[[Request], Response] = echo
    assert handler(Request("GET", "/p")).body == b"GET /p []|"


# --- deferred answers (forwarded writes) -------------------------------------------------------------------


class DeferringHandler:
    """``/later/<n>`` answers once released, ``/durable/<n>`` too and then durable; the rest now."""

    def __init__(self) -> None:
        self.pending: dict[str, PendingAnswer] = {}
        self.arrived: dict[str, trio.Event] = {}

    def __call__(self, request: Request) -> Response:
        if request.path.startswith(("/later/", "/durable/")):
            pending = self.pending[request.path] = PendingAnswer()
            self._arrival(request.path).set()
            return Response(deferred=pending)
        return Response(body=request.path.encode())

    def _arrival(self, path: str) -> trio.Event:
        return self.arrived.setdefault(path, trio.Event())

    async def release(self, path: str) -> None:
        """Resolve ``path``'s answer once it has arrived."""
        await self._arrival(path).wait()
        durable_seq = 1 if path.startswith("/durable/") else 0
        self.pending[path].resolve(Response(body=b"resolved " + path.encode(), durable_seq=durable_seq))


async def test_deferred_answers_keep_their_order_over_a_stream() -> None:
    handler = DeferringHandler()
    async with memory_server(handler) as (client, reader):
        await client.send_all(b"GET /now HTTP/1.1\r\n\r\nPOST /later/1 HTTP/1.1\r\n\r\n")
        await client.send_all(b"GET /after HTTP/1.1\r\n\r\n")
        assert (await reader.answer()).body == b"/now"
        await trio.testing.wait_all_tasks_blocked()
        assert reader.done == []
        await handler.release("/later/1")
        first, second = await reader.answers(2)
        assert [first.body, second.body] == [b"resolved /later/1", b"/after"]


async def test_deferred_answers_park_the_connection_without_holding_up_others() -> None:
    handler = DeferringHandler()
    with trio.fail_after(10):
        async with socket_server(handler) as (port, _):
            slow, slow_reader = await connect(port)
            fast, fast_reader = await connect(port)
            async with slow, fast:
                await slow.send_all(b"POST /later/1 HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n")
                await fast.send_all(b"GET /other HTTP/1.1\r\n\r\n")
                assert (await fast_reader.answer()).body == b"/other"
                await handler.release("/later/1")
                first, second = await slow_reader.answers(2)
                assert [first.body, second.body] == [b"resolved /later/1", b"/after"]
                await slow.send_all(b"POST /durable/2 HTTP/1.1\r\n\r\n")
                await handler.release("/durable/2")  # resolved to a durable answer: waits for the log too
                assert (await slow_reader.answer()).body == b"resolved /durable/2"
                await slow.send_all(b"GET /again HTTP/1.1\r\n\r\n")  # the hub watches it again
                assert (await slow_reader.answer()).body == b"/again"
