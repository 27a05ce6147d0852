"""``AsyncNamingClient`` against a real nacosfast node in the same Trio run.

Tests that only involve this loop run under ``autojump_clock`` (a 30 s refresh passes in ms); the
ones that measure push latency use the real clock, bounded by ``fail_after``.
"""

from __future__ import annotations

import functools
import json
import os
import random
import socket
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from nacosfast.client import (
    AsyncNamingClient,
    ClientTimings,
    NacosRequestError,
    NoServerAvailable,
    ServiceChange,
)
from nacosfast.client.diskcache import FAILOVER_DIR, SWITCH_FILE
from nacosfast.client.hosts import TooManyServices
from tests.client_helpers import LOOPBACK, LocalServer, eventually, start_server, wait_until

SERVICE = "orders"


async def listed(server: LocalServer, expected: list[str]) -> bool:
    return await server.ips(SERVICE) == expected


async def cached_count(client: AsyncNamingClient, expected: int) -> bool:
    return len(await client.select_instances(SERVICE)) == expected


def client_for(address: str, cache_dir: Path, **options: Any) -> AsyncNamingClient:
    return AsyncNamingClient(address, cache_dir=cache_dir, push_host=LOOPBACK, **options)


class Recorder:
    """A listener that keeps every change."""

    def __init__(self) -> None:
        self.changes: list[ServiceChange] = []

    def __call__(self, change: ServiceChange) -> None:
        self.changes.append(change)

    def latest_ips(self) -> list[str]:
        return sorted(item.address for item in self.changes[-1].instances) if self.changes else []


async def test_client_push_is_received_acked_and_delivered_within_a_second(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, tmp_path / "data")
        async with (
            client_for(server.address, tmp_path / "a") as watcher,
            client_for(server.address, tmp_path / "b", push=False) as writer,
        ):
            await writer.register_instance(SERVICE, "10.0.0.1", 8080)
            recorder = Recorder()
            await watcher.subscribe(SERVICE, recorder)
            await wait_until(lambda: recorder.latest_ips() == ["10.0.0.1:8080"], timeout_s=5)

            start = trio.current_time()
            await writer.register_instance(SERVICE, "10.0.0.2", 8080, metadata={"zone": "a"})
            await wait_until(lambda: len(recorder.changes) >= 2, timeout_s=5)
            assert trio.current_time() - start < 1.0
            change = recorder.changes[-1]
            assert [item.address for item in change.added] == ["10.0.0.2:8080"]
            assert change.added[0].metadata == {"zone": "a"}
            assert not change.removed
            assert not change.modified
            stats = watcher.stats
            await wait_until(lambda: stats["pushes_acked"] == stats["pushes_received"] >= 1, timeout_s=1)

            # A large list is gzipped by the server (≥ 1024 bytes) and still read.
            for number in range(3, 13):
                await writer.register_instance(SERVICE, f"10.0.0.{number}", 8080, metadata={"pad": "x" * 100})
            await wait_until(lambda: len(recorder.latest_ips()) == 12, timeout_s=5)
            await wait_until(lambda: watcher.stats["pushes_acked"] >= 2, timeout_s=5)

            # The server matched every ack.
            async def push_state() -> dict[str, int]:
                state: dict[str, int] = await server.call("GET", "/operator/push/state")
                return state

            async def all_acked() -> bool:
                state = await push_state()
                return state["succeed"] == state["total"] >= watcher.stats["pushes_acked"]

            await eventually(all_acked, timeout_s=15)
        nursery.cancel_scope.cancel()


async def test_client_acks_only_known_servers_and_applies_only_newer_data(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, tmp_path / "data")
        async with client_for(server.address, tmp_path / "c") as client:
            await client.register_instance(SERVICE, "10.0.0.1", 8080)
            recorder = Recorder()
            await client.subscribe(SERVICE, recorder)
            await wait_until(lambda: recorder.changes != [], timeout_s=5)
            [before] = await client.get_all_instances(SERVICE)
            known = client._hosts.cached(f"DEFAULT_GROUP@@{SERVICE}")
            assert known is not None

            def forged(last_ref_time: int, ip: str) -> bytes:
                data = {
                    "name": f"DEFAULT_GROUP@@{SERVICE}",
                    "clusters": "",
                    "cacheMillis": 10000,
                    "lastRefTime": last_ref_time,
                    "hosts": [{"ip": ip, "port": 1, "healthy": True, "enabled": True, "weight": 1.0}],
                }
                return json.dumps({"type": "dom", "data": json.dumps(data), "lastRefTime": 777}).encode()

            async def send_from(source_ip: str, datagram: bytes) -> bytes | None:
                with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    await sock.bind((source_ip, 0))
                    await sock.sendto(datagram, (LOOPBACK, client.push_port))
                    with trio.move_on_after(0.5):
                        ack, _ = await sock.recvfrom(65536)
                        return ack
                return None

            # From an address that is not a server: dropped, not acked.
            assert await send_from("127.0.0.2", forged(known.last_ref_time + 1_000, "10.6.6.6")) is None
            assert client.stats["pushes_rejected"] == 1
            # From a server address but older than the cache: acked exactly as the Java client, not applied.
            ack = await send_from(LOOPBACK, forged(known.last_ref_time - 1, "10.7.7.7"))
            assert ack == b'{"type": "push-ack", "lastRefTime":"777", "data":""}'
            assert await client.get_all_instances(SERVICE) == [before]
            # Newer: applied, and the listener hears it.
            assert await send_from(LOOPBACK, forged(known.last_ref_time + 1_000, "10.8.8.8")) is not None
            assert [item.ip for item in await client.get_all_instances(SERVICE)] == ["10.8.8.8"]
            await wait_until(lambda: recorder.latest_ips() == ["10.8.8.8:1"], timeout_s=1)
            assert [item.ip for item in recorder.changes[-1].removed] == ["10.0.0.1"]
        nursery.cancel_scope.cancel()


async def test_client_handles_groups_namespaces_persistent_instances_and_updates(tmp_path: Path) -> None:
    # Real clock: persistent writes wait for the server's fsync in a worker thread.
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, tmp_path / "data")
        async with (
            client_for(server.address, tmp_path / "dev", namespace="dev") as dev,
            client_for(server.address, tmp_path / "pub") as public,
        ):
            await dev.register_instance(
                SERVICE, "10.0.0.1", 8080, group="G", ephemeral=False, metadata={"v": "1"}, weight=2
            )
            assert dev.beating() == []  # persistent: no beats
            recorder = Recorder()
            await dev.subscribe(SERVICE, recorder, group="G")
            [first] = await dev.get_all_instances(SERVICE, group="G")
            assert (first.ephemeral, first.weight, first.metadata) == (False, 2.0, {"v": "1"})
            assert await dev.get_all_instances(SERVICE, group="G", subscribe=False) == [first]
            assert await public.get_all_instances(SERVICE, group="G") == []  # another namespace
            assert await dev.get_all_instances(SERVICE) == []  # another group
            page = await dev.get_services(group="G")
            assert (page.count, page.names) == (1, (SERVICE,))

            await dev.update_instance(
                SERVICE, "10.0.0.1", 8080, group="G", ephemeral=False, metadata={"v": "2"}
            )
            await wait_until(lambda: bool(recorder.changes and recorder.changes[-1].modified), timeout_s=2)
            [changed] = recorder.changes[-1].modified
            assert (changed.metadata, changed.weight) == ({"v": "2"}, 1.0)
            assert recorder.changes[-1].grouped_name == "G@@orders"

            await dev.deregister_instance(SERVICE, "10.0.0.1", 8080, group="G", ephemeral=False)
            await wait_until(lambda: recorder.changes[-1].instances == (), timeout_s=5)
            assert [item.address for item in recorder.changes[-1].removed] == ["10.0.0.1:8080"]
        nursery.cancel_scope.cancel()


async def test_client_polls_when_push_is_blocked(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, tmp_path / "data", push_enabled=False)
        async with client_for(server.address, tmp_path / "c") as client:
            await client.register_instance(SERVICE, "10.0.0.1", 8080)
            recorder = Recorder()
            await client.subscribe(SERVICE, recorder)
            await server.call("POST", "/instance", {"serviceName": SERVICE, "ip": "10.0.0.2", "port": "8080"})
            start = trio.current_time()
            await wait_until(
                lambda: recorder.latest_ips() == ["10.0.0.1:8080", "10.0.0.2:8080"], timeout_s=10
            )
            assert trio.current_time() - start <= 3.1  # cacheMillis without push: 3 s
            assert client.stats["pushes_received"] == 0
            assert client.stats["polls"] >= 2
        nursery.cancel_scope.cancel()


async def test_client_polls_when_pushes_are_dropped_on_the_way(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # The server pushes from 127.0.0.2, an address the client does not know as a server (as behind a
    # misconfigured NAT or firewall): every push is dropped unacked, and the 10 s poll brings the change.
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, tmp_path / "data", push_host="127.0.0.2")
        async with client_for(server.address, tmp_path / "c") as client:
            await client.register_instance(SERVICE, "10.0.0.1", 8080)
            recorder = Recorder()
            await client.subscribe(SERVICE, recorder)
            await server.call("POST", "/instance", {"serviceName": SERVICE, "ip": "10.0.0.2", "port": "8080"})
            start = trio.current_time()
            await wait_until(lambda: len(recorder.latest_ips()) == 2, timeout_s=15)
            assert 1.0 < trio.current_time() - start <= 10.1  # not pushed: polled (cacheMillis 10 s)
            assert client.stats["pushes_rejected"] >= 1
            assert client.stats["pushes_received"] == client.stats["pushes_acked"] == 0
        nursery.cancel_scope.cancel()


async def test_client_serves_reads_from_cache_through_an_outage_and_registers_again(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, tmp_path / "data")
        async with client_for(server.address, tmp_path / "c") as client:
            await client.register_instance(SERVICE, "10.0.0.1", 8080)
            assert [item.address for item in await client.select_instances(SERVICE)] == ["10.0.0.1:8080"]
            await trio.sleep(12)  # the server has allowed light beats by now
            await server.stop()
            for _ in range(12):  # two minutes of outage: polls and beats fail, reads keep answering
                await trio.sleep(10)
                assert [item.address for item in await client.select_instances(SERVICE)] == ["10.0.0.1:8080"]
            assert client.stats["poll_failures"] >= 3
            assert client.stats["beat_failures"] >= 3
            await server.start()  # same port and data; the ephemeral instance is gone
            await wait_until(lambda: client.stats["beats"] > 0, timeout_s=1)
            await eventually(lambda: listed(server, ["10.0.0.1:8080"]), timeout_s=10)
            # Polling resumed (backoff is at most 60 s): the cache follows the server again.
            await server.call("POST", "/instance", {"serviceName": SERVICE, "ip": "10.0.0.2", "port": "8080"})
            await eventually(lambda: cached_count(client, 2), timeout_s=70)

            # The server loses the instance between two light beats (as after a quick restart): the next
            # light beat is answered 20404 and the client registers the instance again.
            await trio.sleep(12)
            before = client.stats["reregistered"]
            params = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": "8080"}
            assert await server.call("DELETE", "/instance", params) == "ok"
            assert await server.ips(SERVICE) == ["10.0.0.2:8080"]
            await eventually(lambda: listed(server, ["10.0.0.1:8080", "10.0.0.2:8080"]), timeout_s=6)
            assert client.stats["reregistered"] == before + 1
        nursery.cancel_scope.cancel()


async def test_client_failover_switch_on_and_off(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    cache = tmp_path / "c"
    failover = cache / FAILOVER_DIR
    timings = ClientTimings(failover_first_backup_ms=1_000)
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, tmp_path / "data")
        async with client_for(server.address, cache, timings=timings) as client:
            await client.register_instance(SERVICE, "10.0.0.1", 8080)
            assert len(await client.get_all_instances(SERVICE)) == 1
            assert (cache / "DEFAULT_GROUP%40%40orders").is_file()  # the disk cache follows every change
            await trio.sleep(1.5)
            assert (failover / "DEFAULT_GROUP%40%40orders").is_file()  # first backup
            assert client.stats["backups"] == 1

            await client.register_instance(SERVICE, "10.0.0.2", 8080)
            await wait_until(lambda: client.stats["pushes_received"] >= 1, timeout_s=2)
            assert len(await client.get_all_instances(SERVICE)) == 2

            (failover / SWITCH_FILE).write_text("1")
            await trio.sleep(5.1)
            assert failover_on(client)
            assert [item.ip for item in await client.get_all_instances(SERVICE)] == ["10.0.0.1"]
            assert [item.ip for item in await client.select_instances(SERVICE)] == ["10.0.0.1"]

            (failover / SWITCH_FILE).write_text("0")
            await trio.sleep(5.1)
            assert not failover_on(client)
            assert len(await client.get_all_instances(SERVICE)) == 2
        nursery.cancel_scope.cancel()


async def address_server(nursery: trio.Nursery, servers: list[str]) -> int:
    """An address server answering ``/nacos/serverlist`` with ``servers`` as they are now."""

    async def answer(stream: trio.SocketStream) -> None:
        async with stream:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    return
                request += chunk
            assert request.startswith(b"GET /nacos/serverlist ")
            body = "\r\n".join(servers).encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            await stream.send_all(head.encode() + body)

    listeners = await nursery.start(functools.partial(trio.serve_tcp, answer, 0, host=LOOPBACK))
    port: int = listeners[0].socket.getsockname()[1]
    return port


async def test_client_refreshes_its_server_list_from_the_endpoint(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        first = await start_server(nursery, tmp_path / "one")
        second = await start_server(nursery, tmp_path / "two")
        listed = [first.address]
        endpoint = await address_server(nursery, listed)
        async with AsyncNamingClient(
            endpoint=f"{LOOPBACK}:{endpoint}", disk_cache=False, push=False
        ) as client:
            assert [str(item) for item in client.servers.servers] == [first.address]
            await client.register_instance(SERVICE, "10.0.0.1", 8080)
            assert await first.ips(SERVICE) == ["10.0.0.1:8080"]
            listed[:] = [second.address]
            await trio.sleep(29)
            assert [str(item) for item in client.servers.servers] == [first.address]
            await trio.sleep(1.5)
            assert [str(item) for item in client.servers.servers] == [second.address]
            await client.register_instance(SERVICE, "10.0.0.2", 8080)
            assert await second.ips(SERVICE) == ["10.0.0.2:8080"]
            listed[:] = []  # an empty answer keeps the list
            await trio.sleep(31)
            assert [str(item) for item in client.servers.servers] == [second.address]
        nursery.cancel_scope.cancel()


async def test_client_rotates_past_dead_and_failing_servers_but_not_past_a_4xx(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    failing_requests: list[bytes] = []

    async def failing(stream: trio.SocketStream) -> None:
        async with stream:
            request = await stream.receive_some(65536)
            failing_requests.append(request)
            await stream.send_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown")

    async with trio.open_nursery() as nursery:
        live = await start_server(nursery, tmp_path / "live")
        listeners = await nursery.start(functools.partial(trio.serve_tcp, failing, 0, host=LOOPBACK))
        failing_address = f"{LOOPBACK}:{listeners[0].socket.getsockname()[1]}"
        with trio.socket.socket() as closed:  # a port nobody listens on
            await closed.bind((LOOPBACK, 0))
            dead = f"{LOOPBACK}:{closed.getsockname()[1]}"
        # A seed whose random start is the dead server: every request meets dead, then failing, then live.
        seed = next(seed for seed in range(100) if random.Random(seed).randrange(3) == 0)
        addresses = f"{dead},{failing_address},{live.address}"
        async with AsyncNamingClient(
            addresses, disk_cache=False, push=False, rng=random.Random(seed)
        ) as client:
            await client.register_instance(SERVICE, "10.0.0.1", 8080)
            assert len(failing_requests) == 1  # rotated past the 503
            for number in range(2, 5):  # then sticks to the server that answered
                await client.register_instance(SERVICE, f"10.0.0.{number}", 8080)
            assert len(await live.ips(SERVICE)) == 4
            assert len(failing_requests) == 1
            assert await client.server_healthy()
            with pytest.raises(NacosRequestError) as refused:  # a 4xx is the answer: no rotation
                await client.register_instance(SERVICE, "10.0.0.9", 8080, cluster="bad_cluster")
            assert refused.value.status == 400
            assert len(failing_requests) == 1
        nursery.cancel_scope.cancel()


async def test_client_keeps_many_subscribed_services_current(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    count = 120
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, tmp_path / "data")
        async with client_for(server.address, tmp_path / "c") as client:
            recorders = {f"svc-{number}": Recorder() for number in range(count)}
            for name, recorder in recorders.items():
                await client.subscribe(name, recorder)
            for name in recorders:
                await server.call("POST", "/instance", {"serviceName": name, "ip": "10.0.0.1", "port": "80"})
            await wait_until(lambda: all(item.changes for item in recorders.values()), timeout_s=5)
            assert client.stats["pushes_received"] >= count
            cache_files = [path for path in (tmp_path / "c").iterdir() if path.is_file()]
            assert len(cache_files) == count  # one cache file per service
        async with client_for(server.address, tmp_path / "d", max_services=5) as small:
            for number in range(5):
                await small.get_all_instances(f"svc-{number}")
            with pytest.raises(TooManyServices):
                await small.get_all_instances("svc-5")
        nursery.cancel_scope.cancel()


async def test_client_first_read_waits_a_bounded_time(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async def silent(stream: trio.SocketStream) -> None:
        async with stream:
            await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, silent, 0, host=LOOPBACK))
        address = f"{LOOPBACK}:{listeners[0].socket.getsockname()[1]}"
        async with client_for(address, tmp_path / "c") as client:
            start = trio.current_time()
            with pytest.raises(NoServerAvailable):
                await client.get_all_instances(SERVICE)
            assert 4.9 <= trio.current_time() - start <= 5.1
        nursery.cancel_scope.cancel()


async def test_client_answers_from_the_disk_cache_before_any_server(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    cache = tmp_path / "c"
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, tmp_path / "data")
        async with client_for(server.address, cache) as client:
            await client.register_instance(SERVICE, "10.0.0.1", 8080, metadata={"v": "1"})
            assert len(await client.get_all_instances(SERVICE)) == 1
        address = server.address
        await server.stop()
        async with client_for(address, cache) as restarted:
            start = trio.current_time()
            [cached] = await restarted.get_all_instances(SERVICE)
            assert trio.current_time() == start
            assert (cached.address, cached.metadata) == ("10.0.0.1:8080", {"v": "1"})
        nursery.cancel_scope.cancel()


def failover_on(client: AsyncNamingClient) -> bool:
    return client.failover_on


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_client_close_leaves_no_socket_or_task(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, tmp_path / "data")
        await server.ips(SERVICE)
        await trio.sleep(0.2)  # the server closes its side of that request's connection
        before = open_descriptors()
        me = trio.lowlevel.current_task()
        nurseries_before = len(me.child_nurseries)
        client = client_for(server.address, tmp_path / "c")
        async with client:
            await client.register_instance(SERVICE, "10.0.0.1", 8080)
            await client.subscribe(SERVICE, Recorder())
            push_port = client.push_port
            assert open_descriptors() > before
            [tasks] = [nursery.child_tasks for nursery in me.child_nurseries[nurseries_before:]]
            assert len(tasks) >= 5  # push, failover, beats, polls, listeners
        # The server closes its side of the client's connections as it reads their end.
        await wait_until(lambda: open_descriptors() == before, timeout_s=2)
        assert len(me.child_nurseries) == nurseries_before  # the client's tasks are all gone
        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            await probe.bind((LOOPBACK, push_port))  # the push port is free again
        with pytest.raises(RuntimeError, match="async with"):
            await client.get_all_instances(SERVICE)
        with pytest.raises(RuntimeError, match="cannot be reopened"):
            await client.__aenter__()
        nursery.cancel_scope.cancel()


async def test_local_server_helper_restarts_on_the_same_port(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        server = LocalServer(nursery, tmp_path / "data")
        await server.start()
        port = server.port
        await server.stop()
        await server.start()
        assert server.port == port
        assert await server.ips(SERVICE) == []
        nursery.cancel_scope.cancel()
