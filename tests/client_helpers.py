"""Helpers for the client SDK tests: a real nacosfast node running in the test's own Trio loop (so
``autojump_clock`` drives the server and the client together), and direct HTTP calls to it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from nacosfast.client.aio.transport import Transport
from nacosfast.client.api import ApiCall
from nacosfast.client.servers import ServerList, parse_addresses
from nacosfast.config import Settings
from nacosfast.server.main import RunningServer, serve

LOOPBACK = "127.0.0.1"


class LocalServer:
    """One nacosfast node in the current Trio run; ``stop()`` and ``start()`` again on the same port
    (the same data directory) to simulate an outage and a restart."""

    def __init__(self, nursery: trio.Nursery, data_dir: Path, **settings: Any) -> None:
        self._nursery = nursery
        self.data_dir = data_dir
        self.settings = settings
        self.port = 0
        self.running: RunningServer | None = None
        self._scope: trio.CancelScope | None = None
        self._done: trio.Event | None = None

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    async def start(self) -> LocalServer:
        settings = Settings(
            host=LOOPBACK, port=self.port, data_dir=str(self.data_dir), log_level="WARNING", **self.settings
        )
        self._scope = trio.CancelScope()
        self._done = trio.Event()
        self.running = await self._nursery.start(self._run, settings, self._scope, self._done)
        self.port = self.running.http_port
        return self

    @staticmethod
    async def _run(
        settings: Settings,
        scope: trio.CancelScope,
        done: trio.Event,
        task_status: trio.TaskStatus[RunningServer] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            with scope:
                await serve(settings, task_status=task_status)
        finally:
            done.set()

    async def stop(self) -> None:
        """Stop the node (its listeners close; ephemeral instances are gone on restart)."""
        assert self._scope is not None
        assert self._done is not None
        self._scope.cancel()
        await self._done.wait()
        self.running = None

    async def call(self, method: str, path: str, params: dict[str, str] | None = None) -> Any:
        """One request to this node; the decoded JSON answer (or the text when it is not JSON)."""
        transport = Transport(ServerList(parse_addresses(self.address)), "nacosfast-tests")
        try:
            reply = await transport.call(ApiCall(method, f"/nacos/v1/ns{path}", params or {}))
        finally:
            await transport.aclose()
        try:
            return json.loads(reply.body)
        except ValueError:
            return reply.body.decode()

    async def ips(self, service: str, namespace: str = "public") -> list[str]:
        """``ip:port`` of the service's instances, as the server lists them now."""
        answer = await self.call("GET", "/instance/list", {"serviceName": service, "namespaceId": namespace})
        return sorted(f"{host['ip']}:{host['port']}" for host in answer["hosts"])


async def start_server(nursery: trio.Nursery, data_dir: Path, **settings: Any) -> LocalServer:
    """A started ``LocalServer``; it stops with ``nursery``."""
    return await LocalServer(nursery, data_dir, **settings).start()


async def wait_until(predicate: Callable[[], object], timeout_s: float, step_s: float = 0.01) -> None:
    """Poll ``predicate()`` until true; ``TimeoutError`` after ``timeout_s`` (virtual or real)."""
    with trio.fail_after(timeout_s):
        while not predicate():  # noqa: ASYNC110 -- state of other tasks and of a server: nothing to await
            await trio.sleep(step_s)


async def eventually(check: Callable[[], Awaitable[object]], timeout_s: float, step_s: float = 0.1) -> None:
    """Poll the async ``check()`` (e.g. a request to a server) until true; ``TimeoutError`` after
    ``timeout_s``."""
    with trio.fail_after(timeout_s):
        while not await check():  # noqa: ASYNC110 -- a server's answer: nothing to await
            await trio.sleep(step_s)
