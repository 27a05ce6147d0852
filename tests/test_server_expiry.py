"""Beat expiry through the whole shell: HTTP over a memory stream, the app, the reaper, virtual time.

Two instances register at t=0; ``alive`` beats every 5 s, ``silent`` never does. With the default
protect threshold (0) a lone unhealthy instance would still be listed healthy, so ``alive`` keeps the
healthy ratio above it and the list shows the real flag.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import trio
import trio.testing

from nacosfast.naming.app import NamingApp
from nacosfast.naming.node import build_state
from nacosfast.server.clock import monotonic_ms, wall_ms
from nacosfast.server.http import serve_stream
from nacosfast.server.reaper import run_reaper
from nacosfast.wire.message import Request, Response
from tests.naming_helpers import MemoryJournal

SERVICE = "orders"
ALIVE = {"ip": "10.0.0.1", "port": "8080"}
SILENT = {"ip": "10.0.0.2", "port": "8080"}
MAX_RESPONSE_BYTES = 1 << 20


class StreamClient:
    """A minimal keep-alive HTTP/1.1 client over one Trio stream (answers carry Content-Length)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buffer = b""

    async def call(self, method: str, path: str, params: dict[str, str]) -> tuple[int, bytes]:
        target = f"/nacos/v1/ns{path}?{urlencode(params)}"
        await self.stream.send_all(f"{method} {target} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += await self.stream.receive_some(65536)
            assert len(self.buffer) < MAX_RESPONSE_BYTES
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        length = next(int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length"))
        while len(rest) < length:
            rest += await self.stream.receive_some(65536)
        self.buffer = rest[length:]
        return status, rest[:length]

    async def hosts(self) -> dict[str, Any]:
        status, body = await self.call("GET", "/instance/list", {"serviceName": SERVICE})
        assert status == 200
        return {host["ip"]: host for host in json.loads(body)["hosts"]}


async def _never_waits(seq: int) -> None:
    """The memory journal is durable at once."""


async def test_expiry_unhealthy_after_15s_and_gone_after_30s(autojump_clock: trio.abc.Clock) -> None:
    state = build_state(MemoryJournal(), wall_ms)
    app = NamingApp(state)

    def handle(request: Request) -> Response:
        return app.handle(request, monotonic_ms(), wall_ms())

    client_stream, server_stream = trio.testing.memory_stream_pair()
    client = StreamClient(client_stream)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_reaper, state)
        nursery.start_soon(serve_stream, server_stream, handle, _never_waits)
        for instance in (ALIVE, SILENT):
            assert await client.call("POST", "/instance", {"serviceName": SERVICE, **instance}) == (
                200,
                b"ok",
            )
        start = trio.current_time()

        async def at(seconds: float) -> dict[str, Any]:
            """Beat ``alive`` on its 5 s schedule up to ``seconds`` after registering, then list."""
            while (beat_due := start + 5 * (1 + (trio.current_time() - start) // 5)) <= start + seconds:
                await trio.sleep_until(beat_due)
                status, body = await client.call("PUT", "/instance/beat", {"serviceName": SERVICE, **ALIVE})
                assert (status, json.loads(body)["code"]) == (200, 10200)
            await trio.sleep_until(start + seconds)
            await trio.testing.wait_all_tasks_blocked()  # let a sweep due at this instant run first
            return await client.hosts()

        hosts = await at(14.9)
        assert hosts[SILENT["ip"]]["healthy"] is True
        hosts = await at(15.1)
        assert hosts[SILENT["ip"]]["healthy"] is False
        assert hosts[ALIVE["ip"]]["healthy"] is True
        hosts = await at(29.9)
        assert SILENT["ip"] in hosts
        hosts = await at(30.1)
        assert SILENT["ip"] not in hosts
        assert hosts[ALIVE["ip"]]["healthy"] is True
        nursery.cancel_scope.cancel()


async def test_reaper_forgives_a_stall_of_the_whole_process(mock_clock: trio.testing.MockClock) -> None:
    """A node that did not run for 40 s (SIGSTOP) must not expire, on resume, instances whose beats it
    could not receive; afterwards they expire on the usual schedule if they stay silent."""
    state = build_state(MemoryJournal(), wall_ms)
    app = NamingApp(state)
    request = Request("POST", "/nacos/v1/ns/instance", query=b"serviceName=svc&ip=10.0.0.1&port=80")
    assert app.handle(request, monotonic_ms(), wall_ms()).body == b"ok"

    def health() -> bool | None:
        service = state.registry.get("public", "DEFAULT_GROUP@@svc")
        instance = service.get("10.0.0.1:80:unknown:DEFAULT", True) if service is not None else None
        return None if instance is None else instance.healthy

    async def advance(seconds: float, step: float = 0.1) -> None:
        for _ in range(round(seconds / step)):
            mock_clock.jump(step)
            await trio.testing.wait_all_tasks_blocked()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_reaper, state)
        await advance(1)  # a few sweeps on time
        mock_clock.jump(40)  # the process is stopped: no sweep and no beat for 40 s
        await trio.testing.wait_all_tasks_blocked()
        assert health() is True  # forgiven: it counts as beaten at resume (t = 41 s)
        await advance(14.5)
        assert health() is True
        await advance(1)  # more than 15 s after resume
        assert health() is False
        nursery.cancel_scope.cancel()
