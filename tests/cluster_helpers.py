"""Several nacosfast nodes in one process, on real loopback sockets, with short cluster timings.

``running_cluster(tmp_path, count)`` starts ``count`` ``serve()`` tasks on distinct 127.0.0.1 ports, all
listing each other as members, and yields their ``InProcessNode`` handles; ``node.stop()`` cancels one
and ``restart`` starts it again on the same port. ``http`` sends one request (``Connection: close``).
Real sockets mean real time: these tests use the Trio clock but never ``autojump_clock``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import trio

from nacosfast.cluster.members import MemberTable, service_key
from nacosfast.config import Settings
from nacosfast.server.main import RunningServer, serve
from tests.server_process import ServerProcess, free_port

LOOPBACK: Final = "127.0.0.1"
SECRET: Final = b"s" * 16 + b"0123456789abcdef0123456789abcdef"
FAST_TIMINGS: Final = {
    "member_report_ms": 100,
    "member_suspicious_ms": 300,
    "member_down_ms": 600,
    "membership_settle_ms": 1_000,
    "forward_timeout_ms": 1_000,
    "distro_anti_entropy_ms": 500,
    "distro_warmup_timeout_ms": 2_000,
}
"""Cluster timings scaled down ~10-20x so membership changes happen within a second."""
WAIT_STEP_S: Final = 0.02
WAIT_LIMIT_S: Final = 10.0


def write_secret(directory: Path, secret: bytes = SECRET) -> Path:
    """A cluster secret file in ``directory``."""
    path = directory / "cluster.secret"
    path.write_bytes(secret)
    path.chmod(0o600)
    return path


async def http(
    port: int,
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, bytes]:
    """One HTTP/1.1 request to ``127.0.0.1:port``: ``(status, body)``."""
    target = path if path.startswith("/nacos") else "/nacos" + path
    if params:
        target += "?" + urlencode({key: str(value) for key, value in params.items()})
    lines = [f"{method} {target} HTTP/1.1", f"Host: {LOOPBACK}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with trio.fail_after(5):
        stream = await trio.open_tcp_stream(LOOPBACK, port)
        async with stream:
            await stream.send_all(request)
            answer = bytearray()
            while chunk := await stream.receive_some(65536):
                answer += chunk
    head, _, content = bytes(answer).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), content


async def get_json(port: int, path: str, params: dict[str, Any] | None = None) -> Any:
    """GET ``path`` and decode its JSON answer (asserting 200)."""
    status, body = await http(port, "GET", path, params)
    assert status == 200, (path, status, body)
    return json.loads(body)


async def wait_for(condition: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    """Poll ``condition`` every 20 ms until it holds; fail after ``WAIT_LIMIT_S``."""
    with trio.move_on_after(WAIT_LIMIT_S):
        while True:
            result = condition()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await trio.sleep(WAIT_STEP_S)
    raise AssertionError(f"timed out waiting for {what}")


class InProcessNode:
    """One node of an in-process cluster: its settings, and while it runs, its state."""

    def __init__(self, nursery: trio.Nursery, settings: Settings) -> None:
        self.nursery = nursery
        self.settings = settings
        self.running: RunningServer | None = None
        self._scope: trio.CancelScope | None = None
        self._stopped = trio.Event()

    @property
    def port(self) -> int:
        return self.settings.port

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def members(self) -> MemberTable:
        assert self.running is not None
        assert self.running.cluster is not None
        return self.running.cluster.members

    @property
    def ready(self) -> bool:
        """Warmed up: it loaded its peers' data (or started alone) and serves clients."""
        return self.running is not None and self.running.state.ready

    def member_state(self, address: str) -> str | None:
        member = self.members.get(address)
        return member.state if member is not None else None

    async def start(self) -> None:
        self._scope = trio.CancelScope()
        self._stopped = trio.Event()
        self.running = await self.nursery.start(self._run)

    async def _run(self, task_status: trio.TaskStatus[RunningServer]) -> None:
        assert self._scope is not None
        try:
            with self._scope:
                await serve(self.settings, task_status=task_status)
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            await self._stopped.wait()
            self.running = None


def owned_by(nodes: list[InProcessNode], owner: InProcessNode, namespace: str = "public") -> str:
    """A service name (``DEFAULT_GROUP@@...``) that ``owner`` owns under the current membership."""
    members = owner.members
    for index in range(10_000):
        name = f"svc{index}"
        if members.owner_of(service_key(namespace, f"DEFAULT_GROUP@@{name}")) == owner.address:
            return name
    raise AssertionError("no service name owned by the node")


@contextlib.asynccontextmanager
async def running_cluster(
    tmp_path: Path, count: int, *, ports: list[int] | None = None, **overrides: Any
) -> AsyncIterator[list[InProcessNode]]:
    """``count`` nodes, started and all seeing each other UP; stopped on exit. They list each other
    with ``members`` unless ``overrides`` names another member source (``cluster_conf``,
    ``address_server``)."""
    secret_file = write_secret(tmp_path)
    ports = ports or [free_port() for _ in range(count)]
    if not overrides.get("cluster_conf") and not overrides.get("address_server"):
        overrides.setdefault("members", ",".join(f"{LOOPBACK}:{port}" for port in ports))
    base = Settings(
        host=LOOPBACK,
        push_enabled=False,
        cluster_secret_file=str(secret_file),
        **{**FAST_TIMINGS, **overrides},
    )
    async with trio.open_nursery() as nursery:
        nodes = [
            InProcessNode(nursery, replace(base, port=port, data_dir=str(tmp_path / f"node{port}")))
            for port in ports
        ]
        for node in nodes:
            await node.start()
        everyone = tuple(sorted(node.address for node in nodes))
        # Nodes started a moment apart may have refused each other's first report: wait for agreement.
        await wait_for(
            lambda: all(node.members.healthy_addresses() == everyone for node in nodes), "all members UP"
        )
        await wait_for(lambda: all(node.ready for node in nodes), "every node warmed up (distro ready)")
        try:
            yield nodes
        finally:
            nursery.cancel_scope.cancel()


@contextlib.contextmanager
def process_cluster(tmp_path: Path, count: int, options: Sequence[str]) -> Iterator[list[ServerProcess]]:
    """``count`` real ``nacosfast server`` processes listing each other (plus ``options``), each
    answering ``operator/metrics``; all stopped on exit."""
    secret = write_secret(tmp_path)
    ports = [free_port() for _ in range(count)]
    members = ",".join(f"{LOOPBACK}:{port}" for port in ports)
    args = ["--members", members, "--cluster-secret-file", str(secret), *options]
    servers = [ServerProcess(tmp_path / f"node{port}", port=port, extra_args=args) for port in ports]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()
