"""The etcd store against a real etcd (one member), with nodes in this process on loopback sockets.

Persistent writes acknowledged on one node are listed (instance list and catalog) on another within
1 s; two nodes racing on one instance: exactly the acknowledged writes are in etcd; etcd down: 503
within the bound, the write undone, ephemeral writes unaffected, and the watch resumes after etcd
restarts; a watch whose revision was compacted away re-reads without losing or repeating a change.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import AsyncIterator, Hashable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trio

from nacosfast.config import Settings
from nacosfast.limits import ETCD_REQUEST_TIMEOUT_MS
from nacosfast.naming import journal
from nacosfast.server.etcd import EtcdStore, etcd_client
from nacosfast.server.etcd_http import EtcdClient, EtcdUnavailable
from nacosfast.store import etcd_keys
from nacosfast.store.etcd_keys import b64, path_of, unb64
from tests.cluster_helpers import InProcessNode, get_json, http, wait_for
from tests.etcd_helpers import EtcdMember, endpoints, etcd_cluster, make_tls
from tests.server_process import free_port

PREFIX = "/nacosfast"
RACE_ROUNDS = 60
RACE_CONFLICTS_WANTED = 3
"""Racing rounds stop once this many were refused with 409 (most rounds race; a loaded machine may
serialize some)."""


@contextlib.asynccontextmanager
async def etcd_nodes(
    tmp_path: Path, members: list[EtcdMember], count: int
) -> AsyncIterator[list[InProcessNode]]:
    base = Settings(host="127.0.0.1", push_enabled=False, etcd=endpoints(members), etcd_prefix=PREFIX)
    async with trio.open_nursery() as nursery:
        nodes = [
            InProcessNode(nursery, replace(base, port=free_port(), data_dir=str(tmp_path / f"node{index}")))
            for index in range(count)
        ]
        for node in nodes:
            await node.start()
        try:
            yield nodes
        finally:
            nursery.cancel_scope.cancel()


def persistent(name: str, ip: str, **extra: Any) -> dict[str, Any]:
    return {"serviceName": name, "ip": ip, "port": 8080, "ephemeral": "false", **extra}


async def hosts(node: InProcessNode, name: str) -> list[dict[str, Any]]:
    answer = await get_json(node.port, "/v1/ns/instance/list", {"serviceName": name})
    return list(answer["hosts"])


def etcd_get(member: EtcdMember, path: str) -> dict[str, Any] | None:
    kvs = member.call("/v3/kv/range", {"key": b64(path)}).get("kvs", [])
    return kvs[0] if kvs else None


async def test_persistent_writes_reach_every_node_within_a_second(tmp_path: Path) -> None:
    with etcd_cluster(tmp_path) as members:
        async with etcd_nodes(tmp_path, members, 2) as (first, second):
            status, body = await http(first.port, "POST", "/v1/ns/instance", persistent("orders", "10.0.0.1"))
            assert (status, body) == (200, b"ok")
            acknowledged = trio.current_time()

            async def listed_on_second() -> bool:
                return [host["ip"] for host in await hosts(second, "orders")] == ["10.0.0.1"]

            await wait_for(listed_on_second, "the instance listed on the other node")
            assert trio.current_time() - acknowledged < 1.0
            catalog = await get_json(second.port, "/v1/ns/catalog/services", {"pageNo": 1, "pageSize": 10})
            assert "orders" in json.dumps(catalog)
            key = path_of(
                PREFIX, ("instance", "public", "DEFAULT_GROUP@@orders", "DEFAULT", "10.0.0.1", 8080)
            )
            assert etcd_get(members[0], key) is not None  # acknowledged = in etcd

            # An update on the second node (read from its watch-fed memory) and a removal on the first.
            status, _ = await http(
                second.port, "PUT", "/v1/ns/instance", persistent("orders", "10.0.0.1", weight=3)
            )
            assert status == 200

            async def weighted_on_first() -> bool:
                return [host["weight"] for host in await hosts(first, "orders")] == [3.0]

            await wait_for(weighted_on_first, "the update seen on the first node")
            status, _ = await http(first.port, "DELETE", "/v1/ns/instance", persistent("orders", "10.0.0.1"))
            assert status == 200

            async def gone_on_second() -> bool:
                return await hosts(second, "orders") == []

            await wait_for(gone_on_second, "the removal seen on the second node")
            assert etcd_get(members[0], key) is None

            # A node started later loads everything at once.
            await http(first.port, "POST", "/v1/ns/instance", persistent("billing", "10.0.0.2"))
            async with etcd_nodes(tmp_path / "late", members, 1) as (late,):
                assert [host["ip"] for host in await hosts(late, "billing")] == ["10.0.0.2"]


async def test_two_nodes_racing_on_one_instance_lose_no_acknowledged_update(tmp_path: Path) -> None:
    with etcd_cluster(tmp_path) as members:
        async with etcd_nodes(tmp_path, members, 2) as nodes:
            assert (await http(nodes[0].port, "POST", "/v1/ns/instance", persistent("race", "10.0.0.9")))[
                0
            ] == 200
            key = path_of(PREFIX, ("instance", "public", "DEFAULT_GROUP@@race", "DEFAULT", "10.0.0.9", 8080))
            statuses: list[int] = []
            last_ok: dict[int, float] = {}
            for round_ in range(RACE_ROUNDS):
                if statuses.count(409) >= RACE_CONFLICTS_WANTED:
                    break
                await wait_for(
                    lambda: all(
                        len(node.running.state.registry.get("public", "DEFAULT_GROUP@@race") or ()) == 1
                        for node in nodes
                        if node.running is not None
                    ),
                    "both nodes hold the instance",
                )
                results: dict[int, int] = {}

                async def update(index: int, weight: float, results: dict[int, int] = results) -> None:
                    params = persistent("race", "10.0.0.9", weight=weight)
                    results[index] = (await http(nodes[index].port, "PUT", "/v1/ns/instance", params))[0]

                async with trio.open_nursery() as nursery:
                    for index in (0, 1):
                        nursery.start_soon(update, index, float(round_ * 10 + index + 1))
                assert set(results.values()) <= {200, 409}, results
                assert 200 in results.values(), results  # a conflict means the other one won
                statuses += results.values()
                for index, status in results.items():
                    if status == 200:
                        last_ok[round_] = float(round_ * 10 + index + 1)
                await trio.sleep(0.05)
            stored = etcd_get(members[0], key)
            assert stored is not None
            # Every acknowledged update is one put in etcd, no more and no fewer.
            assert int(stored["version"]) == 1 + statuses.count(200)
            assert 409 in statuses  # the race did happen, and was refused rather than overwritten
            value = journal.decode(unb64(stored["value"]))
            assert value.weight == last_ok[max(last_ok)]  # the last acknowledged update is what is stored

            async def agree() -> bool:
                weights = [[host["weight"] for host in await hosts(node, "race")] for node in nodes]
                return weights == [[value.weight], [value.weight]]

            await wait_for(agree, "both nodes list the value etcd holds")


async def test_etcd_down_answers_503_in_bounded_time_and_the_watch_resumes(tmp_path: Path) -> None:
    with etcd_cluster(tmp_path) as members:
        async with etcd_nodes(tmp_path, members, 2) as (first, second):
            members[0].kill9()
            started = trio.current_time()
            status, body = await http(first.port, "POST", "/v1/ns/instance", persistent("down", "10.0.0.3"))
            assert status == 503, body
            assert b"etcd" in body
            assert trio.current_time() - started < ETCD_REQUEST_TIMEOUT_MS / 1000 + 1
            assert await hosts(first, "down") == []  # refused: undone, not listed
            ephemeral = {"serviceName": "down", "ip": "10.0.0.4", "port": 1}
            assert (await http(first.port, "POST", "/v1/ns/instance", ephemeral))[0] == 200
            members[0].start()
            members[0].wait_ready()
            assert (await http(first.port, "POST", "/v1/ns/instance", persistent("up", "10.0.0.5")))[0] == 200

            async def seen() -> bool:
                return [host["ip"] for host in await hosts(second, "up")] == ["10.0.0.5"]

            await wait_for(seen, "a write after the restart seen through the resumed watch")
            store = second.running.state.journal if second.running is not None else None
            assert isinstance(store, EtcdStore)
            assert store.watch_restarts >= 1


async def test_a_watch_behind_a_compaction_re_reads_without_losing_or_repeating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(etcd_keys, "ETCD_RANGE_PAGE_KEYS", 2)  # reads in pages: 3 keys take two
    with etcd_cluster(tmp_path) as members:
        member = members[0]
        seen: list[tuple[Hashable, bytes | None]] = []
        client = EtcdClient((member.url,))
        store = EtcdStore(client, PREFIX, observe=lambda key, value: seen.append((key, value)))
        keep = path_of(PREFIX, ("namespace", "keep"))
        drop = path_of(PREFIX, ("namespace", "drop"))
        still = path_of(PREFIX, ("namespace", "still"))
        for path in (keep, drop, still):
            member.call("/v3/kv/put", {"key": b64(path), "value": b64(b"v1")})
        await store.load()
        assert [value for _, value in seen] == [b"v1", b"v1", b"v1"]
        seen.clear()
        member.call("/v3/kv/deleterange", {"key": b64(drop)})
        member.call("/v3/kv/put", {"key": b64(keep), "value": b64(b"v2")})
        added = path_of(PREFIX, ("namespace", "added"))
        reply = member.call("/v3/kv/put", {"key": b64(added), "value": b64(b"v1")})
        member.call("/v3/kv/compaction", {"revision": reply["header"]["revision"], "physical": True})
        async with trio.open_nursery() as nursery:
            nursery.start_soon(store.follow)
            await wait_for(lambda: len(seen) >= 3, "the re-read applied")
            member.call("/v3/kv/put", {"key": b64(added), "value": b64(b"v2")})
            await wait_for(lambda: len(seen) >= 4, "the watch resumed after the re-read")
            await trio.sleep(0.2)
            nursery.cancel_scope.cancel()
        await client.aclose()
        assert store.resyncs == 1
        assert sorted(seen[:3], key=str) == sorted(
            [(("namespace", "drop"), None), (("namespace", "keep"), b"v2"), (("namespace", "added"), b"v1")],
            key=str,
        )
        assert seen[3:] == [(("namespace", "added"), b"v2")]  # nothing twice


async def test_a_persistent_write_on_one_node_is_pushed_by_another(tmp_path: Path) -> None:
    with etcd_cluster(tmp_path) as members:
        async with etcd_nodes(tmp_path, members, 1) as (writer,), trio.open_nursery() as nursery:
            settings = Settings(
                host="127.0.0.1",
                port=free_port(),
                data_dir=str(tmp_path / "pusher"),
                etcd=endpoints(members),
                etcd_prefix=PREFIX,
                push_coalesce_ms=10,
            )
            pusher = InProcessNode(nursery, settings)
            await pusher.start()
            with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as subscriber:
                await subscriber.bind(("127.0.0.1", 0))
                udp_port = subscriber.getsockname()[1]
                params = {"serviceName": "pushed", "udpPort": udp_port, "clientIP": "127.0.0.1"}
                headers = {"User-Agent": "Nacos-Java-Client:v1.4.1"}
                status, body = await http(pusher.port, "GET", "/v1/ns/instance/list", params, headers=headers)
                assert status == 200
                assert json.loads(body)["cacheMillis"] == 10_000  # subscribed for push
                status, _ = await http(
                    writer.port, "POST", "/v1/ns/instance", persistent("pushed", "10.0.0.7")
                )
                assert status == 200
                with trio.fail_after(1):
                    while True:
                        packet = await subscriber.recv(65_536)
                        if b"10.0.0.7" in packet or gzip_has(packet, b"10.0.0.7"):
                            break
            nursery.cancel_scope.cancel()


def gzip_has(packet: bytes, text: bytes) -> bool:
    return packet[:2] == b"\x1f\x8b" and text in gzip.decompress(packet)


async def test_tls_and_a_user_with_a_password(tmp_path: Path) -> None:
    ca, _, _ = tls = make_tls(tmp_path)
    with etcd_cluster(tmp_path, tls=tls) as (member,):
        for path, body in (
            ("/v3/auth/user/add", {"name": "root", "password": "rootpw"}),
            ("/v3/auth/role/add", {"name": "root"}),
            ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
            ("/v3/auth/enable", {}),
        ):
            member.call(path, body)
        password_file = tmp_path / "etcd.password"
        password_file.write_text("rootpw\n")
        base = Settings(
            host="127.0.0.1",
            push_enabled=False,
            etcd=member.url,
            etcd_ca_file=str(ca),
            etcd_user="root",
            etcd_password_file=str(password_file),
        )
        async with trio.open_nursery() as nursery:
            node = InProcessNode(nursery, replace(base, port=free_port(), data_dir=str(tmp_path / "node")))
            await node.start()
            assert (await http(node.port, "POST", "/v1/ns/instance", persistent("secure", "10.0.0.8")))[
                0
            ] == 200
            token = member.call("/v3/auth/authenticate", {"name": "root", "password": "rootpw"})["token"]
            key = path_of(
                PREFIX, ("instance", "public", "DEFAULT_GROUP@@secure", "DEFAULT", "10.0.0.8", 8080)
            )
            assert member.call("/v3/kv/range", {"key": b64(key)}, token=token).get("kvs")
            nursery.cancel_scope.cancel()
        wrong = replace(base, etcd_ca_file="", port=free_port(), data_dir=str(tmp_path / "untrusting"))
        client = etcd_client(wrong)  # the system CAs do not know this one: no connection
        with pytest.raises(EtcdUnavailable, match="etcd unavailable"):
            await client.call("/v3/kv/range", {"key": b64("x")})
        await client.aclose()
