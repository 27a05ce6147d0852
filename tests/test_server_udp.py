"""The UDP push shell against real UDP subscribers on loopback (virtual time via ``autojump_clock``),
and against the real Node ``nacos-naming`` push receiver (real time)."""

from __future__ import annotations

import errno
import json
import socket
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from nacosfast.naming.push import Datagram, PushConfig, PushHub, decode_packet
from nacosfast.server.udp import PushServer, now_ms
from tests.test_push import JAVA_UA, NODE_UA, NS, SVC, FakeRender

WAIT_S = 30.0
"""Longest wait for one packet in virtual time (the schedules under test span 20 s)."""
NODE_WAIT_S = 10.0
"""Longest wait for the Node process in real time."""


@dataclass
class Received:
    at: float
    packet: dict[str, Any]
    raw: bytes
    source: tuple[str, int]


@dataclass
class UdpClient:
    """A push receiver as the Java/Node clients behave: parse, then ack to the packet's source.

    ``ack``: "string" (Java), "number" (Node) or "never"; ``lose`` first packets are dropped unread
    (packet loss); ``ack_delay`` seconds pass before acking (a slow client).
    """

    ack: str = "string"
    lose: int = 0
    ack_delay: float = 0.0
    sock: trio.socket.SocketType = field(init=False)
    received: list[Received] = field(default_factory=list)
    send_channel: trio.MemorySendChannel[Received] = field(init=False)
    channel: trio.MemoryReceiveChannel[Received] = field(init=False)

    async def open(self, nursery: trio.Nursery) -> UdpClient:
        self.sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        await self.sock.bind(("127.0.0.1", 0))
        self.send_channel, self.channel = trio.open_memory_channel[Received](1_000)
        nursery.start_soon(self._run, nursery)
        return self

    @property
    def port(self) -> int:
        port: int = self.sock.getsockname()[1]
        return port

    async def _run(self, nursery: trio.Nursery) -> None:
        with self.sock:  # closed when the test's nursery cancels this task
            while True:
                raw, source = await self.sock.recvfrom(65_536)
                if self.lose > 0:
                    self.lose -= 1
                    continue
                packet = json.loads(decode_packet(raw))
                item = Received(trio.current_time(), packet, raw, source)
                self.received.append(item)
                self.send_channel.send_nowait(item)
                if self.ack != "never":
                    value = packet["lastRefTime"] if self.ack == "number" else str(packet["lastRefTime"])
                    ack = json.dumps({"type": "push-ack", "lastRefTime": value, "data": ""}).encode()
                    nursery.start_soon(self._ack_later, ack, source)

    async def _ack_later(self, ack: bytes, source: tuple[str, int]) -> None:
        await trio.sleep(self.ack_delay)
        if self.sock.fileno() >= 0:
            await self.sock.sendto(ack, source)

    async def next(self) -> Received:
        with trio.fail_after(WAIT_S):
            return await self.channel.receive()


@dataclass
class Harness:
    hub: PushHub
    server: PushServer
    render: FakeRender
    nursery: trio.Nursery

    async def client(self, *, agent: str = JAVA_UA, clusters: str = "", **options: Any) -> UdpClient:
        client = await UdpClient(**options).open(self.nursery)
        self.subscribe(client.port, agent=agent, clusters=clusters)
        return client

    def subscribe(self, port: int, *, agent: str = JAVA_UA, clusters: str = "") -> None:
        self.hub.subscribe(
            NS, SVC, clusters, "127.0.0.1", port, agent, "app", "", now_ms(), peer_ip="127.0.0.1"
        )

    def change(self) -> float:
        self.hub.service_changed(NS, SVC, now_ms())
        return trio.current_time()

    async def settle(self) -> None:
        await trio.testing.wait_all_tasks_blocked()


StartPush = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start_push(nursery: trio.Nursery) -> StartPush:
    async def start(**config: Any) -> Harness:
        render = FakeRender()
        render.set_hosts(2)
        hub = PushHub(render, PushConfig(**config))
        server = PushServer(hub, "127.0.0.1", 0)
        address = await nursery.start(server.run)
        assert address == server.address
        assert address[0] == "127.0.0.1"
        assert address[1] > 0
        return Harness(hub, server, render, nursery)

    return start


def counters(harness: Harness, *names: str) -> tuple[int, ...]:
    values = harness.hub.counters()
    return tuple(values[name] for name in names)


async def test_change_reaches_a_real_subscriber_after_the_coalescing_window(
    start_push: StartPush, autojump_clock: trio.testing.MockClock
) -> None:
    push = await start_push()
    client = await push.client()
    changed = push.change()
    got = await client.next()
    assert 0.050 <= got.at - changed < 0.052
    assert got.packet["type"] == "dom"
    assert got.packet["lastRefTime"] < 2**53
    assert json.loads(got.packet["data"])["name"] == SVC
    assert got.source == push.server.address  # acks go back to the socket that pushed
    await push.settle()
    assert counters(push, "acked", "pending", "total", "succeed") == (1, 0, 1, 1)


async def test_many_changes_in_the_window_send_one_packet(
    start_push: StartPush, autojump_clock: trio.testing.MockClock
) -> None:
    push = await start_push(coalesce_ms=50)
    client = await push.client()
    push.change()
    for _ in range(20):
        await trio.sleep(0.002)
        push.change()
    await client.next()
    await trio.sleep(1)
    assert len(client.received) == 1


@pytest.mark.parametrize("style", ["string", "number"])
async def test_java_and_node_ack_styles_both_settle(
    start_push: StartPush, autojump_clock: trio.testing.MockClock, style: str
) -> None:
    push = await start_push()
    client = await push.client(ack=style)
    push.change()
    await client.next()
    await push.settle()
    assert counters(push, "acked", "pending") == (1, 0)
    await trio.sleep(30)
    assert len(client.received) == 1  # no resend after the ack


async def test_never_acking_subscriber_gets_a_resend_at_10s_then_is_given_up_at_20s(
    start_push: StartPush, autojump_clock: trio.testing.MockClock
) -> None:
    push = await start_push()
    client = await push.client(ack="never")
    changed = push.change()
    first = await client.next()
    await trio.sleep_until(changed + 5)
    push.subscribe(client.port)  # the client keeps polling: no zombie sweep interferes
    second = await client.next()
    assert second.raw == first.raw
    assert second.at - first.at == pytest.approx(10.0, abs=0.002)
    await trio.sleep_until(changed + 15)
    push.subscribe(client.port)
    await trio.sleep_until(changed + 20.2)
    assert counters(push, "sent", "retried", "gave_up", "failed", "pending") == (2, 1, 1, 1, 0)
    await trio.sleep(60)
    assert len(client.received) == 2


async def test_late_ack_after_the_resend_is_matched(
    start_push: StartPush, autojump_clock: trio.testing.MockClock
) -> None:
    push = await start_push()
    client = await push.client(ack_delay=15.0)
    push.change()
    first = await client.next()
    second = await client.next()  # the resend at 10 s, before the slow ack
    assert second.at - first.at == pytest.approx(10.0, abs=0.002)
    await trio.sleep(16)
    assert counters(push, "acked", "failed", "pending") == (1, 0, 0)
    assert push.hub.counters()["acks_unmatched"] == 1  # the second ack of the same packet


async def test_lost_packet_is_recovered_by_the_resend(
    start_push: StartPush, autojump_clock: trio.testing.MockClock
) -> None:
    push = await start_push()
    client = await push.client(lose=1)
    changed = push.change()
    got = await client.next()
    assert got.at - changed == pytest.approx(10.05, abs=0.002)
    await push.settle()
    assert counters(push, "acked", "retried", "failed") == (1, 1, 0)


async def test_retry_schedule_is_configurable_end_to_end(
    start_push: StartPush, autojump_clock: trio.testing.MockClock
) -> None:
    push = await start_push(retry_ms=500, give_up_ms=2_000)
    client = await push.client(ack="never")
    changed = push.change()
    await trio.sleep(5)
    offsets = [r.at - changed for r in client.received]
    assert offsets == pytest.approx([0.05, 0.55, 1.05, 1.55], abs=0.002)
    assert counters(push, "gave_up") == (1,)


async def test_ack_from_another_source_is_ignored(
    start_push: StartPush, autojump_clock: trio.testing.MockClock
) -> None:
    push = await start_push()
    client = await push.client(ack="never")
    push.change()
    got = await client.next()
    intruder = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await intruder.bind(("127.0.0.1", 0))
    ack = json.dumps({"type": "push-ack", "lastRefTime": str(got.packet["lastRefTime"]), "data": ""})
    await intruder.sendto(ack.encode(), push.server.address)
    await push.settle()
    assert counters(push, "acks_unmatched", "acked", "pending") == (1, 0, 1)
    again = await client.next()  # still unacked: resent
    assert again.packet["lastRefTime"] == got.packet["lastRefTime"]
    intruder.close()


async def test_newer_change_supersedes_a_pending_packet(
    start_push: StartPush, autojump_clock: trio.testing.MockClock
) -> None:
    push = await start_push()
    client = await push.client(ack="never")
    push.change()
    first = await client.next()
    await trio.sleep(1)
    push.render.set_hosts(5)
    push.change()
    second = await client.next()
    assert second.packet["lastRefTime"] != first.packet["lastRefTime"]
    assert len(json.loads(second.packet["data"])["hosts"]) == 5
    third = await client.next()
    assert third.raw == second.raw  # only the newest packet is resent
    assert third.at - second.at == pytest.approx(10.0, abs=0.002)
    assert push.hub.counters()["superseded"] == 1


async def test_large_lists_arrive_gzipped_and_whole(
    start_push: StartPush, autojump_clock: trio.testing.MockClock
) -> None:
    push = await start_push()
    push.render.set_hosts(200)
    client = await push.client()
    push.change()
    got = await client.next()
    assert got.raw[:2] == b"\x1f\x8b"
    assert len(json.loads(got.packet["data"])["hosts"]) == 200


async def test_fan_out_to_many_subscribers_shares_one_packet(
    start_push: StartPush, autojump_clock: trio.testing.MockClock
) -> None:
    push = await start_push()
    clients = [await push.client(ack="number" if i % 2 else "string") for i in range(300)]
    push.change()
    seqs = set()
    for client in clients:
        seqs.add((await client.next()).packet["lastRefTime"])
    assert len(seqs) == 1
    await push.settle()
    assert counters(push, "acked", "pending", "total") == (300, 0, 300)


async def test_zombie_subscriber_is_skipped_and_swept(
    start_push: StartPush, autojump_clock: trio.testing.MockClock
) -> None:
    push = await start_push()
    alive = await push.client()
    zombie = await push.client()
    await trio.sleep(10.5)
    push.subscribe(alive.port)  # only one of them polls again
    push.change()
    await alive.next()
    await trio.sleep(1)
    assert zombie.received == []
    assert push.hub.counters()["zombies_skipped"] == 1
    assert push.hub.subscriber_count == 2  # zombies stay listed until the sweep (every 20 s)
    await trio.sleep(30)
    assert [s.port for s in push.hub.subscribers(NS, SVC)] == []  # both zombies by now: swept
    assert push.hub.subscriber_count == 0


async def test_flood_of_subscribers_at_closed_ports_drains_to_nothing(
    start_push: StartPush, autojump_clock: trio.testing.MockClock
) -> None:
    push = await start_push()
    probes = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(500)]
    for probe in probes:
        probe.bind(("127.0.0.1", 0))  # distinct ports, all closed before the push
        push.subscribe(probe.getsockname()[1])
    for probe in probes:
        probe.close()
    push.change()
    await trio.sleep(21)
    assert counters(push, "total", "sent", "failed", "pending") == (500, 1_000, 500, 0)
    await trio.sleep(30)
    sizes = push.hub.debug_sizes()
    assert sizes == dict.fromkeys(sizes, 0)


async def test_periodic_repush_when_enabled(
    start_push: StartPush, autojump_clock: trio.testing.MockClock
) -> None:
    push = await start_push(repeat_ms=10_000)
    client = await push.client(lose=2)  # the first packet and its resend are lost
    changed = push.change()
    for when in (5, 15, 25):
        await trio.sleep_until(changed + when)
        push.subscribe(client.port)  # the client keeps polling
    got = await client.next()
    assert got.at - changed == pytest.approx(30.05, abs=0.002)  # given up at 20 s, re-pushed 10 s later
    await push.settle()
    assert counters(push, "repushed", "acked", "failed") == (1, 1, 1)


async def test_dual_stack_socket_pushes_to_ipv4_and_matches_its_acks(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    render = FakeRender()
    hub = PushHub(render, PushConfig())
    server = PushServer(hub, "::", 0)
    host, port = await nursery.start(server.run)
    assert host == "::"
    client = await UdpClient().open(nursery)
    hub.subscribe(NS, SVC, "", "127.0.0.1", client.port, JAVA_UA, "", "", now_ms(), peer_ip="127.0.0.1")
    hub.service_changed(NS, SVC, now_ms())
    got = await client.next()
    assert got.source == ("127.0.0.1", port)
    await trio.testing.wait_all_tasks_blocked()
    assert hub.counters()["acked"] == 1  # the ack's ::ffff:127.0.0.1 source was mapped back


async def test_server_stops_cleanly_and_closes_its_socket(autojump_clock: trio.testing.MockClock) -> None:
    hub = PushHub(FakeRender())
    server = PushServer(hub, "127.0.0.1", 0)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        port = server.address[1]
        nursery.cancel_scope.cancel()
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", port))  # free again
    probe.close()


async def test_unexpected_hub_error_does_not_kill_the_sender(
    start_push: StartPush,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    push = await start_push()
    client = await push.client()
    real_poll = push.hub.poll
    calls = 0

    def flaky_poll(now: int, budget: int = 1024) -> list[Datagram]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return real_poll(now, budget)

    monkeypatch.setattr(push.hub, "poll", flaky_poll)
    push.change()
    got = await client.next()
    assert got.packet["type"] == "dom"
    assert "push: sender error" in caplog.text


class FlakySocket(socket.socket):
    """A real UDP socket whose sendto fails in scripted ways."""

    script: list[int]
    sent: list[tuple[bytes, Any]]

    def sendto(self, data: Any, *args: Any) -> int:
        code = self.script.pop(0) if self.script else 0
        if code == errno.EAGAIN:
            raise BlockingIOError(code, "try again")
        if code:
            raise OSError(code, "scripted")
        self.sent.append((bytes(data), args[-1]))
        return len(data)


async def test_sender_waits_on_eagain_and_sorts_errors(autojump_clock: trio.testing.MockClock) -> None:
    hub = PushHub(FakeRender(), PushConfig(coalesce_ms=0))
    for port in (1, 2, 3, 4):
        hub.subscribe(NS, SVC, "", "127.0.0.1", port, NODE_UA, "", "", 0, peer_ip="127.0.0.1")
    hub.service_changed(NS, SVC, 0)
    batch = hub.poll(0)
    server = PushServer(hub, "127.0.0.1", 0)
    sock = FlakySocket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    # Port 1: EAGAIN twice, then sent. Port 2: ECONNREFUSED (a stale ICMP report), sent on the retry.
    # Port 3: EMSGSIZE fails the packet. Port 4: ENOBUFS leaves it to the retry timer.
    sock.script = [errno.EAGAIN, errno.EAGAIN, 0, errno.ECONNREFUSED, 0, errno.EMSGSIZE, errno.ENOBUFS]
    sock.sent = []
    with sock:
        await server._send(sock, batch)
    assert [target[1] for _, target in sock.sent] == [1, 2]
    counters = hub.counters()
    assert (counters["failed"], counters["pending"], counters["send_errors"]) == (1, 3, 2)


# --- the real Node client ---------------------------------------------------------------------------


class LineReader:
    """JSON lines from a child process's stdout."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def next(self) -> dict[str, Any]:
        with trio.fail_after(NODE_WAIT_S):
            while b"\n" not in self._buffer:
                chunk = await self._stream.receive_some(65_536)
                if not chunk:
                    raise EOFError("the node process exited")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        event: dict[str, Any] = json.loads(line)
        return event

    async def until(self, kind: str) -> dict[str, Any]:
        with trio.fail_after(NODE_WAIT_S):
            while True:
                event = await self.next()
                if event["event"] == kind:
                    return event
                if event["event"] == "error":
                    raise AssertionError(f"node reported an error: {event}")


@pytest.mark.parametrize("hosts", [2, 100])
async def test_real_nacos_naming_push_receiver_parses_and_acks(
    start_push: StartPush, monkeypatch: pytest.MonkeyPatch, hosts: int, node_client: Path
) -> None:
    """Needs the real client: ``node_client`` fails (never skips) when it is missing."""
    push = await start_push()
    push.render.set_hosts(hosts)
    acked = trio.Event()
    on_ack = push.hub.on_ack

    def watch_ack(datagram: bytes, ip: str, port: int, now: int) -> bool:
        settled = on_ack(datagram, ip, port, now)
        if settled:
            acked.set()
        return settled

    monkeypatch.setattr(push.hub, "on_ack", watch_ack)
    process = await trio.lowlevel.open_process(
        ["node", str(node_client / "push_receiver.js")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=node_client,
    )
    try:
        assert process.stdout is not None
        assert process.stdin is not None
        lines = LineReader(process.stdout)
        ready = await lines.until("ready")
        push.subscribe(ready["udpPort"], agent=NODE_UA, clusters="DEFAULT")
        push.change()
        received = await lines.until("received")
        assert received["from"] == "{}:{}".format(*push.server.address)
        service = await lines.until("service")
        assert service["key"] == f"{SVC}@@DEFAULT"  # the key HostReactor files the update under
        assert service["hosts"] == hosts
        with trio.fail_after(NODE_WAIT_S):
            await acked.wait()
        assert counters(push, "acked", "pending", "acks_unmatched", "acks_invalid") == (1, 0, 0, 0)
        await process.stdin.aclose()
        with trio.fail_after(NODE_WAIT_S):
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
