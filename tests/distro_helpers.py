"""Several Distro nodes in one process, linked by an in-memory network that can drop, stall and count."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from nacosfast.cluster.distro import Distro, DistroConfig
from nacosfast.cluster.view import StaticMembership, service_key
from nacosfast.naming.app import NamingApp
from nacosfast.naming.node import build_state
from nacosfast.naming.state import NamingState, ServerIdentity
from nacosfast.server.clock import monotonic_ms
from nacosfast.server.distro_runner import DistroRunner
from tests.naming_helpers import WALL_EPOCH_MS, MemoryJournal, RecordingPush, call

FAST = DistroConfig(
    sync_delay_ms=20,
    anti_entropy_period_ms=1_000,
    warmup_timeout_ms=2_000,
    warmup_retry_ms=100,
    fetch_pause_ms=200,
    retry_min_ms=50,
    retry_max_ms=400,
    tombstone_ms=2_000,
)
"""Timings for tests (virtual time under ``autojump_clock``)."""
LINK_LATENCY_S = 0.001


class LinkDown(ConnectionError):
    """The in-memory network refused a call (a node is down or a link is cut)."""


@dataclass
class Node:
    """One in-process node: naming state, application, membership view, Distro and its runner."""

    address: str
    state: NamingState
    app: NamingApp
    view: StaticMembership
    distro: Distro
    runner: DistroRunner

    @property
    def recorded(self) -> RecordingPush:
        assert isinstance(self.state.push, RecordingPush)
        return self.state.push

    def status(self) -> tuple[bool, bool]:
        """``(ready, synced)``."""
        return self.state.ready, self.distro.synced

    def register(self, service: str, ip: str, port: int = 8080, **extra: Any) -> None:
        response = call(
            self.app,
            "POST",
            "/v1/ns/instance",
            {"serviceName": service, "ip": ip, "port": port, **extra},
            now_ms=monotonic_ms(),
        )
        assert response.status == 200, response.body

    def deregister(self, service: str, ip: str, port: int = 8080) -> None:
        response = call(
            self.app,
            "DELETE",
            "/v1/ns/instance",
            {"serviceName": service, "ip": ip, "port": port},
            now_ms=monotonic_ms(),
        )
        assert response.status == 200, response.body

    def hosts(self, service: str, group: str = "DEFAULT_GROUP", namespace: str = "public") -> list[str]:
        """Sorted ``ip:port:healthy`` of the service's ephemeral instances, straight from the registry."""
        snapshot = self.state.registry.get(namespace, f"{group}@@{service}")
        if snapshot is None:
            return []
        return sorted(f"{i.ip}:{i.port}:{i.healthy}" for i in snapshot.instances(ephemeral=True))

    def listed(self, service: str) -> tuple[int, list[str]]:
        """``instance/list`` through the application: (status, sorted ``ip:port``)."""
        params = {"serviceName": service}
        response = call(self.app, "GET", "/v1/ns/instance/list", params, now_ms=monotonic_ms())
        if response.status != 200:
            return response.status, []
        return 200, sorted(f"{h['ip']}:{h['port']}" for h in json.loads(response.body)["hosts"])


def owner_of(nodes: list[Node], service: str) -> Node:
    """The node that owns ``DEFAULT_GROUP@@service`` in ``public``."""
    address = nodes[0].view.owner_of(service_key("public", f"DEFAULT_GROUP@@{service}"))
    return next(node for node in nodes if node.address == address)


@dataclass
class Network:
    """Routes calls between nodes; ``down`` nodes neither send nor answer."""

    nodes: dict[str, Node] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    calls: dict[str, int] = field(default_factory=dict)
    bytes_sent: dict[str, int] = field(default_factory=dict)

    def sender(self, source: str) -> Any:
        async def send(address: str, kind: str, payload: bytes) -> bytes:
            await trio.sleep(LINK_LATENCY_S)
            if source in self.down or address in self.down or address not in self.nodes:
                raise LinkDown(f"{source} -> {address}: link down")
            self.calls[kind] = self.calls.get(kind, 0) + 1
            self.bytes_sent[kind] = self.bytes_sent.get(kind, 0) + len(payload)
            reply = self.nodes[address].runner.handle(kind, payload, monotonic_ms())
            self.bytes_sent[kind + " reply"] = self.bytes_sent.get(kind + " reply", 0) + len(reply)
            return reply

        return send


def addresses(count: int) -> list[str]:
    return [f"127.0.0.1:{8848 + index}" for index in range(count)]


def make_node(
    network: Network,
    address: str,
    members: list[str],
    *,
    config: DistroConfig = FAST,
    settle_ms: int = 0,
    epoch_ms: int = WALL_EPOCH_MS,
    real_push: bool = False,
) -> Node:
    """A node; ``real_push``: its push sink is the real ``PushHub`` (else a ``RecordingPush``)."""
    host, _, port = address.rpartition(":")
    identity = ServerIdentity(host, int(port), False)
    if real_push:
        state = build_state(MemoryJournal(), lambda: WALL_EPOCH_MS + monotonic_ms(), identity=identity)
    else:
        state = NamingState(push=RecordingPush(), journal=MemoryJournal(), identity=identity)
    now_ms = monotonic_ms()
    view = StaticMembership(address, members, now_ms, settle_ms)
    distro = Distro(state, view, epoch_ms, now_ms, config)
    node = Node(address, state, NamingApp(state), view, distro, DistroRunner(distro, network.sender(address)))
    network.nodes[address] = node
    return node


@asynccontextmanager
async def running_cluster(
    count: int = 3,
    *,
    config: DistroConfig = FAST,
    settle_ms: int = 0,
    warm: bool = True,
    real_push: bool = False,
) -> AsyncIterator[tuple[Network, list[Node], trio.Nursery]]:
    """``count`` nodes that know each other, their runners started; ``warm``: wait until all are ready
    and synced (started at once, they start alone at the warm-up deadline, then merge each other)."""
    network = Network()
    members = addresses(count)
    nodes = [
        make_node(network, address, members, config=config, settle_ms=settle_ms, real_push=real_push)
        for address in members
    ]
    async with trio.open_nursery() as nursery:
        for node in nodes:
            await nursery.start(node.runner.run)
        if warm:
            await eventually(lambda: all(node.status() == (True, True) for node in nodes), 60)
        yield network, nodes, nursery
        nursery.cancel_scope.cancel()


async def eventually(predicate: Callable[[], bool], seconds: float, step: float = 0.001) -> float:
    """Poll ``predicate`` every ``step`` until it holds; the time it took. Fails after ``seconds``."""
    start = trio.current_time()
    for _ in range(int(seconds / step) + 1):
        if predicate():
            return trio.current_time() - start
        await trio.sleep(step)
    raise AssertionError(f"not true within {seconds} s")


async def settle(seconds: float) -> None:
    """Let virtual time pass, then let every woken task run."""
    await trio.sleep(seconds)
    await trio.testing.wait_all_tasks_blocked()
