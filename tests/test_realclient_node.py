"""The real Node ``nacos-naming`` client (npm) subscribed to a real ``nacosfast server`` over UDP push.

The client (``tests/node/subscriber.js``) presents itself as ``Nacos-Java-Client:v1.0.0``, polls
``instance/list`` with its UDP port, and acks every push from the socket that received it. Another
client (plain HTTP here) registers and deregisters instances; the Node listener must fire right after
a push that carried the change, within ``LISTENER_BOUND_MS`` of each ``ok`` (its first poll is 1 s after
subscribing, then every ``cacheMillis`` = 10 s, so nothing but a push can deliver a change inside that
window), and every push must be acked.

Node's ``HostReactor`` ignores lists with no hosts (``ServiceInfo.isValid``), as the Java client
does, so the deregister case keeps one instance registered.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from tests.server_process import ServerProcess, running_server

pytestmark = pytest.mark.realclient


LISTENER_BOUND_MS: Final = 2_000
"""The listener must fire this soon after the write's ``ok``. Push usually takes tens of ms (its
latency is measured in bench/, not asserted); the bound only has to stay far below the client's 10 s
poll, so that no poll can deliver the change first, while tolerating a busy 2-core machine."""
WAIT_S: Final = 10.0
"""Longest wait for one event from the Node process."""
QUIET_AFTER_SUBSCRIBE_S: Final = 2.5
"""The client polls once 1 s after subscribing, then every 10 s; the writes start after the first
poll (1.5 s of slack for a late timer) and end, three listener bounds later, before the second."""
NAMESPACE: Final = "public"
GROUP: Final = "DEFAULT_GROUP"


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class NodeClient:
    """``subscriber.js`` as a child process: JSON-line events out, commands in."""

    def __init__(self, directory: Path, config: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            ["node", str(directory / "subscriber.js"), json.dumps(config)],
            cwd=directory,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.log: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "output", "text": line.decode("utf-8", "replace")}
            self.events.put(event)
        self.events.put({"event": "exit"})

    def next(self, kind: str) -> dict[str, Any]:
        """The next event of ``kind``; fails on errors, exit or timeout."""
        deadline = time.monotonic() + WAIT_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind!r} event within {WAIT_S} s; seen: {self.log[-10:]}")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            self.log.append(event)
            if event["event"] == kind:
                return event
            if event["event"] in {"error", "fatal", "exit", "failed"}:
                raise AssertionError(f"node client: {event}; seen: {self.log[-10:]}")

    def send(self, command: dict[str, Any]) -> None:
        """One command line to the client (``register``, ``deregister``, ``close``)."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        self.process.stdin.flush()

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.write(b'{"op":"close"}\n')
                self.process.stdin.flush()
                self.process.wait(timeout=WAIT_S)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=WAIT_S)
        self._reader.join(timeout=WAIT_S)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("realclient-node") / "data") as process:
        yield process


@pytest.fixture
def service() -> str:
    return f"node-push-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def node(server: ServerProcess, service: str, node_client: Path) -> Iterator[NodeClient]:
    """The real client, subscribed to ``service`` (``node_client`` fails, never skips, without it)."""
    client = NodeClient(
        node_client,
        {
            "server": server.address,
            "namespace": NAMESPACE,
            "serviceName": service,
            "groupName": GROUP,
            "clientIp": "127.0.0.1",
        },
    )
    try:
        yield client
    finally:
        client.close()


def _instance(server: ServerProcess, method: str, service: str, port: int) -> int:
    """Register or deregister ``127.0.0.1:port`` as another client; the wall time of the ``ok``."""
    params = {"namespaceId": NAMESPACE, "serviceName": f"{GROUP}@@{service}", "ip": "127.0.0.1", "port": port}
    status, body = server.request(method, "/nacos/v1/ns/instance", params)
    assert (status, body) == (200, b"ok")
    return wall_ms()


def _pushed_then_changed(node: NodeClient, ok_ms: int, ports: set[int]) -> None:
    """The listener reports exactly ``ports`` within the deadline, right after a push that carried them."""
    push = node.next("push")
    change = node.next("change")
    assert {host["port"] for host in change["hosts"]} == ports
    assert change["t"] - ok_ms <= LISTENER_BOUND_MS, f"listener fired {change['t'] - ok_ms} ms after ok"
    packet = json.loads(push["packet"])
    assert packet["type"] == "dom"
    assert {host["port"] for host in json.loads(packet["data"])["hosts"]} == ports


def test_node_listener_fires_on_register_and_deregister_by_push(
    server: ServerProcess, node: NodeClient, service: str
) -> None:
    ready = node.next("ready")
    grouped = f"{GROUP}@@{service}"
    deadline = time.monotonic() + WAIT_S
    while True:  # the client subscribes on its first list call
        listed = server.get_json("/nacos/v1/ns/service/subscribers", {"serviceName": grouped})
        if listed["count"]:
            break
        assert time.monotonic() < deadline, "the Node client never subscribed"
        time.sleep(0.05)
    [subscriber] = listed["subscribers"]
    assert subscriber["addrStr"] == f"127.0.0.1:{ready['udpPort']}"
    assert subscriber["agent"] == "Nacos-Java-Client:v1.0.0"
    time.sleep(QUIET_AFTER_SUBSCRIBE_S)
    before = server.get_json("/nacos/v1/ns/operator/push/state")

    _pushed_then_changed(node, _instance(server, "POST", service, 18081), {18081})
    _pushed_then_changed(node, _instance(server, "POST", service, 18082), {18081, 18082})
    _pushed_then_changed(node, _instance(server, "DELETE", service, 18082), {18081})

    deadline = time.monotonic() + WAIT_S
    while True:  # every push acked: nothing in flight, nothing failed
        state = server.get_json("/nacos/v1/ns/operator/push/state")
        pushed = state["total"] - before["total"]
        if pushed >= 3 and state["succeed"] == state["total"]:
            break
        assert time.monotonic() < deadline, f"pushes not all acked: {state}"
        time.sleep(0.05)
    assert state["ratio"] == 1.0
    _instance(server, "DELETE", service, 18081)
