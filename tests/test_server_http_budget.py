"""The server-wide request memory budget in serve_http, over loopback sockets.

Real clock and short configured timeouts: the hub waits on a real epoll set, which autojump_clock
would jump past. Every wait is bounded by ``trio.fail_after``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trio

from nacosfast.server.http import Handler, HttpLimits, WaitDurable, serve_http
from nacosfast.wire.budget import RequestBudget
from nacosfast.wire.message import Request, Response
from tests.test_server_http import GET, Reader, connect, durable_now, echo

BODY = 64 * 1024
LIMITS = {"max_header_bytes": 1024, "max_body_bytes": BODY, "request_allowance_bytes": 1024}
POOL = 2 * HttpLimits(max_buffered_bytes=10**9, **LIMITS).max_need
"""Room for two large uploads at once (a third waits), and for the worst-case request."""


def big_head(length: int = BODY, extra: bytes = b"") -> bytes:
    return b"PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n%s\r\n" % (length, extra)


def payload(index: int) -> bytes:
    return bytes([65 + index % 26]) * BODY


@asynccontextmanager
async def budget_server(
    handler: Handler = echo, wait_durable: WaitDurable = durable_now, **overrides: int
) -> AsyncIterator[tuple[int, RequestBudget, trio.CancelScope]]:
    limits = HttpLimits(max_buffered_bytes=POOL, **{**LIMITS, **overrides})
    budget = limits.budget()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            lambda task_status: serve_http(
                handler, wait_durable, "127.0.0.1", 0, limits=limits, budget=budget, task_status=task_status
            )
        )
        yield port, budget, nursery.cancel_scope
        nursery.cancel_scope.cancel()
    assert (budget.used, budget.waiting) == (0, 0)  # whatever was left, shutdown gave it back


async def until(condition: Callable[[], bool]) -> None:
    """Wait (polling) until ``condition()``; callers bound it with fail_after."""
    while not condition():  # noqa: ASYNC110 -- the budget is a plain sans-I/O object: nothing to await
        await trio.sleep(0.005)


async def small_requests_are_answered(port: int, connections: int = 5, each: int = 4) -> None:
    for _ in range(connections):
        stream, reader = await connect(port)
        async with stream:
            for _ in range(each):
                await stream.send_all(GET)
                answer = await reader.answer()
                assert answer.status == 200
                assert answer.body.startswith(b"GET /a [('x', '1')]")


async def test_large_bodies_wait_for_the_budget_while_small_requests_are_served() -> None:
    uploads = 40
    with trio.fail_after(20):
        async with budget_server() as (port, budget, _):
            clients = [await connect(port) for _ in range(uploads)]
            for index, (stream, _reader) in enumerate(clients):
                await stream.send_all(big_head() + payload(index)[: BODY // 2])
            # Two uploads hold reservations; the others wait unread, holding nothing of the pool.
            await until(lambda: budget.waiting == uploads - 2)
            assert budget.used <= budget.limit
            await small_requests_are_answered(port)
            assert budget.waiting == uploads - 2  # nothing small took their place or jumped the queue

            async def finish(index: int, stream: trio.SocketStream, reader: Reader) -> None:
                await stream.send_all(payload(index)[BODY // 2 :])
                answer = await reader.answer()
                assert answer.status == 200
                assert answer.body == b"PUT /big []|" + payload(index)
                await stream.aclose()

            async with trio.open_nursery() as nursery:
                for index, (stream, reader) in enumerate(clients):
                    nursery.start_soon(finish, index, stream, reader)
            assert budget.peak <= budget.limit
            assert budget.waits >= uploads - 2
            await until(lambda: budget.used == 0)
            assert budget.waiting == 0
            await small_requests_are_answered(port, connections=1)


async def test_stalled_uploads_time_out_with_408_and_give_their_share_back() -> None:
    with trio.fail_after(20):
        async with budget_server(request_timeout_ms=400, tick_ms=50) as (port, budget, _):
            clients = [await connect(port) for _ in range(6)]
            for index, (stream, _reader) in enumerate(clients):
                await stream.send_all(big_head() + payload(index)[:1000])  # and then nothing
            await until(lambda: budget.waiting == 4)
            assert budget.used > 0
            await small_requests_are_answered(port, connections=2)  # while they stall
            for stream, reader in clients:  # reserved and waiting alike
                assert (await reader.answer()).status == 408
                assert await reader.closed()
                await stream.aclose()
            assert (budget.used, budget.waiting) == (0, 0)


async def test_uploads_whose_clients_go_away_give_their_share_back() -> None:
    with trio.fail_after(20):
        async with budget_server() as (port, budget, _):
            clients = [await connect(port) for _ in range(8)]
            for index, (stream, _reader) in enumerate(clients):
                await stream.send_all(big_head() + payload(index)[: BODY // 4])
            await until(lambda: budget.waiting == 6)
            for stream, _reader in clients:
                await stream.aclose()
            # The reserved ones see the close at once; each waiting one is resumed in turn, reads
            # the end of its input and closes too.
            await until(lambda: budget.used == 0 and budget.waiting == 0)
            await small_requests_are_answered(port, connections=1)


async def test_a_waiting_upload_gets_its_100_continue_only_once_it_may_send() -> None:
    with trio.fail_after(20):
        async with budget_server() as (port, budget, _):
            holders = [await connect(port) for _ in range(2)]
            for index, (stream, _reader) in enumerate(holders):
                await stream.send_all(big_head() + payload(index)[:100])
            await until(lambda: budget.used > 0 and budget.waiting == 0)
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(big_head(extra=b"Expect: 100-continue\r\n"))
                await until(lambda: budget.waiting == 1)
                with trio.move_on_after(0.2):
                    assert await stream.receive_some(100) == b"never: it waits"
                first, first_reader = holders[0]
                await first.send_all(payload(0)[100:])  # the first upload completes: room for it
                assert (await first_reader.answer()).status == 200
                assert await stream.receive_some(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
                await stream.send_all(payload(7))
                answer = await reader.answer()
                assert (answer.status, answer.body) == (200, b"PUT /big []|" + payload(7))
            for holder, _reader in holders:
                await holder.aclose()


async def test_shutdown_gives_back_the_shares_of_reserved_and_waiting_uploads() -> None:
    with trio.fail_after(20):
        async with budget_server() as (port, budget, scope):
            clients = [await connect(port) for _ in range(5)]
            for index, (stream, _reader) in enumerate(clients):
                await stream.send_all(big_head() + payload(index)[:5000])
            await until(lambda: budget.waiting == 3)
            scope.cancel()  # budget_server checks that used and waiting are back to 0
        for stream, reader in clients:
            async with stream:
                with contextlib.suppress(trio.BrokenResourceError):  # unread input: maybe a reset
                    assert await reader.closed()
                assert reader.done == []


async def test_pipelined_small_requests_behind_a_waiting_upload_are_served_once_it_completes() -> None:
    with trio.fail_after(20):
        async with budget_server() as (port, budget, _):
            holders = [await connect(port) for _ in range(2)]
            for index, (stream, _reader) in enumerate(holders):
                await stream.send_all(big_head() + payload(index)[:100])
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(GET * 3 + big_head() + payload(3)[:10])
                assert [a.status for a in await reader.answers(3)] == [200, 200, 200]
                await until(lambda: budget.waiting == 1)
                for index, (holder, holder_reader) in enumerate(holders):
                    await holder.send_all(payload(index)[100:])
                    assert (await holder_reader.answer()).status == 200
                    await holder.aclose()
                await stream.send_all(payload(3)[10:] + GET)
                big, small = await reader.answers(2)
                assert big.body == b"PUT /big []|" + payload(3)
                assert small.status == 200
            await until(lambda: budget.used == 0)


async def test_a_reservation_covers_a_body_whose_answer_waits_for_the_log_until_it_is_sent() -> None:
    durable = trio.Event()
    entered = trio.Event()

    def durable_put(request: Request) -> Response:
        if request.method == "PUT":
            return Response(body=b"%d" % len(request.body), durable_seq=1)
        return echo(request)

    async def wait_durable(seq: int) -> None:
        entered.set()
        await durable.wait()

    with trio.fail_after(20):
        async with budget_server(durable_put, wait_durable) as (port, budget, _):
            stream, reader = await connect(port)
            async with stream:
                await stream.send_all(big_head() + payload(0))
                await entered.wait()
                assert budget.used > 0  # the body is complete but held until its answer goes out
                await small_requests_are_answered(port, connections=1)
                durable.set()
                assert (await reader.answer()).body == b"%d" % BODY
                await until(lambda: budget.used == 0)
                await stream.send_all(GET)
                assert (await reader.answer()).status == 200


def test_limits_refuse_a_budget_smaller_than_one_request_and_a_bad_allowance() -> None:
    with pytest.raises(ValueError, match="max_buffered_bytes"):
        HttpLimits(max_buffered_bytes=POOL // 2 - 1, **LIMITS)
    with pytest.raises(ValueError, match="request_allowance_bytes"):
        HttpLimits(request_allowance_bytes=0)
    with pytest.raises(ValueError, match="request_allowance_bytes"):
        HttpLimits(request_allowance_bytes=1024 * 1024)
    assert HttpLimits().budget().limit == HttpLimits().max_buffered_bytes


async def test_serve_http_refuses_a_budget_smaller_than_one_request() -> None:
    with pytest.raises(ValueError, match="more than the budget"):
        await serve_http(echo, durable_now, "127.0.0.1", 0, budget=RequestBudget(1024, 1024, 65536))
