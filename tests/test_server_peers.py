"""The peer transport over loopback: PeerClient against PeerRouter behind the real HTTP server."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
import trio

from nacosfast.cluster.auth import PeerVerifier
from nacosfast.server.clock import monotonic_ms, wall_ms
from nacosfast.server.forwarder import Forwarder
from nacosfast.server.http import HttpLimits, serve_http
from nacosfast.server.peers import PEER_PATH_PREFIX, PeerClient, PeerRouter, PeerUnavailable
from nacosfast.wire.http_limits import DEFAULT_HTTP_LIMITS
from nacosfast.wire.message import Request, Response
from tests.cluster_helpers import LOOPBACK, SECRET
from tests.server_process import free_port

ME = "127.0.0.1:1"


async def _never_waits(seq: int) -> None:
    return None


@contextlib.asynccontextmanager
async def peer_server(router: PeerRouter, limits: HttpLimits = DEFAULT_HTTP_LIMITS) -> AsyncIterator[str]:
    def handle(request: Request) -> Response:
        if request.path.startswith(PEER_PATH_PREFIX):
            return router.handle(request, monotonic_ms(), wall_ms())
        return Response(status=404, body=b"")

    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            lambda task_status: serve_http(
                handle, _never_waits, LOOPBACK, 0, limits=limits, task_status=task_status
            )
        )
        yield f"{LOOPBACK}:{port}"
        nursery.cancel_scope.cancel()


def echo_router() -> PeerRouter:
    router = PeerRouter(PeerVerifier(SECRET))

    def echo(kind: str, payload: bytes, now_ms: int) -> bytes:
        if payload == b"bad":
            raise ValueError("bad payload")
        return kind.encode() + b":" + payload

    router.register("test/", echo)
    return router


async def test_peers_call_round_trips_and_reuses_its_connection() -> None:
    router = echo_router()
    client = PeerClient(ME, SECRET)
    async with peer_server(router) as address:
        assert await client.call(address, "test/echo", b"hello", 2) == b"test/echo:hello"
        big = bytes(range(256)) * 40_000  # 10 MB: far more than the 1 MiB request body limit raw
        assert await client.call(address, "test/big", big, 5) == b"test/big:" + big
        assert client.calls == 2
        assert len(client._idle[address]) == 1  # one keep-alive connection served both
        await client.aclose()


async def test_peers_errors_are_peer_unavailable() -> None:
    router = echo_router()
    client = PeerClient(ME, SECRET)
    stranger = PeerClient(ME, b"w" * 32)
    async with peer_server(router) as address:
        with pytest.raises(PeerUnavailable, match="answered 400"):
            await client.call(address, "test/x", b"bad", 2)
        with pytest.raises(PeerUnavailable, match="answered 404"):
            await client.call(address, "nope/x", b"", 2)
        with pytest.raises(PeerUnavailable, match="answered 403") as refused:
            await stranger.call(address, "test/x", b"", 2)
        assert not refused.value.refused
        assert router.refused == 1
        assert await client.call(address, "test/after", b"ok", 2) == b"test/after:ok"  # still usable
    with pytest.raises(PeerUnavailable, match="cannot connect") as gone:
        await client.call(f"{LOOPBACK}:{free_port()}", "test/x", b"", 2)
    assert gone.value.refused
    await client.aclose()
    await stranger.aclose()


async def test_peers_call_times_out_on_a_silent_peer() -> None:
    with socket.socket() as silent:
        silent.bind((LOOPBACK, 0))
        silent.listen(1)  # accepts (the kernel does) but never answers
        client = PeerClient(ME, SECRET)
        with pytest.raises(PeerUnavailable, match="no answer within"):
            await client.call(f"{LOOPBACK}:{silent.getsockname()[1]}", "test/x", b"", 0.2)
        await client.aclose()


async def test_peers_replace_a_connection_the_peer_closed_while_idle() -> None:
    router = echo_router()
    client = PeerClient(ME, SECRET)
    limits = HttpLimits(idle_timeout_ms=50, tick_ms=10)
    async with peer_server(router, limits) as address:
        assert await client.call(address, "test/a", b"1", 2) == b"test/a:1"
        await trio.sleep(0.3)  # the server closes the idle connection
        assert await client.call(address, "test/b", b"2", 2) == b"test/b:2"
    await client.aclose()


async def test_forwarder_handles_writes_here_when_the_owner_is_unreachable() -> None:
    handled_here: list[Request] = []

    def fallback(request: Request) -> Response:
        handled_here.append(request)
        return Response(body=b"handled here")

    client = PeerClient(ME, SECRET)
    forwarder = Forwarder(client, fallback, timeout_ms=500)
    async with trio.open_nursery() as nursery:
        await nursery.start(forwarder.run)
        owner = f"{LOOPBACK}:{free_port()}"
        pending = [forwarder.forward(owner, Request("POST", "/nacos/v1/ns/instance")) for _ in range(3)]
        answers: list[Response] = []
        all_answered = trio.Event()

        def collect(answer: Response) -> None:
            answers.append(answer)
            if len(answers) == 3:
                all_answered.set()

        for response in pending:
            assert response.deferred is not None
            response.deferred.on_resolved(collect)
        with trio.fail_after(5):
            await all_answered.wait()
        assert [answer.body for answer in answers] == [b"handled here"] * 3
        assert len(handled_here) == 3
        assert forwarder.handled_locally == 3
        forwarder.relay_beat(owner, "public", "DEFAULT_GROUP@@s", "k")
        await trio.sleep(0.1)
        assert forwarder.beats_dropped == 1
        nursery.cancel_scope.cancel()
    await client.aclose()
