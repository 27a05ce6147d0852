"""Several nodes in one process over real loopback sockets: membership, forwarding, peer security."""

from __future__ import annotations

import json
from pathlib import Path

import trio

from nacosfast._core.registry import Instance
from nacosfast.cluster.auth import signed_headers
from nacosfast.cluster.members import DOWN, UP
from nacosfast.naming import effects
from nacosfast.naming.instances import upsert
from nacosfast.server.clock import monotonic_ms
from nacosfast.server.http import serve_http
from nacosfast.wire.message import Request, Response
from tests.cluster_helpers import (
    LOOPBACK,
    SECRET,
    get_json,
    http,
    owned_by,
    running_cluster,
    wait_for,
)
from tests.server_process import free_port

REGISTER = "/v1/ns/instance"
LIST = "/v1/ns/instance/list"
BEAT = "/v1/ns/instance/beat"


async def _never_waits(seq: int) -> None:
    return None


async def test_cluster_members_see_each_other_up_and_a_stopped_one_down(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, 3) as nodes:
        a, b, c = nodes
        everyone = tuple(sorted(node.address for node in nodes))
        await wait_for(lambda: all(node.members.healthy_addresses() == everyone for node in nodes), "all UP")
        servers = (await get_json(a.port, "/v1/ns/operator/servers"))["servers"]
        assert [server["address"] for server in servers] == list(everyone)
        assert {server["state"] for server in servers} == {UP}
        assert all(server["extendInfo"]["lastRefreshTime"] > 0 for server in servers)
        await c.stop()
        await wait_for(lambda: a.member_state(c.address) == DOWN, "c DOWN on a")
        await wait_for(lambda: b.member_state(c.address) == DOWN, "c DOWN on b")
        assert a.members.healthy_addresses() == tuple(sorted((a.address, b.address)))
        await c.start()
        await wait_for(lambda: a.member_state(c.address) == UP, "c UP again on a")


async def test_cluster_write_on_a_non_owner_reaches_the_owner(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, 3) as nodes:
        a, b, _ = nodes
        await wait_for(lambda: all(len(node.members.peers()) == 2 for node in nodes), "all UP")
        name = owned_by(nodes, a)
        instance = {"serviceName": name, "ip": "10.0.0.1", "port": 8080}
        status, body = await http(b.port, "POST", REGISTER, instance)
        assert (status, body) == (200, b"ok")
        listed = await get_json(a.port, LIST, {"serviceName": name})
        assert [host["ip"] for host in listed["hosts"]] == ["10.0.0.1"]

        # b forwarded it; its own copy comes from the owner by Distro replication.
        async def b_lists_it() -> bool:
            hosts = (await get_json(b.port, LIST, {"serviceName": name}))["hosts"]
            return [host["ip"] for host in hosts] == ["10.0.0.1"]

        await wait_for(b_lists_it, "the instance replicated to b")
        # A light beat on b is answered there and relayed to the owner.
        status, body = await http(b.port, "PUT", BEAT, instance)
        assert status == 200
        assert json.loads(body)["code"] == 10200
        # Invalid requests are answered where they arrive, with the same 400.
        status, body = await http(b.port, "POST", REGISTER, {"serviceName": name, "ip": "10.0.0.1"})
        assert status == 400


async def test_cluster_peer_endpoints_refuse_unsigned_and_forged_requests(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, 2) as nodes:
        a, b = nodes
        status, body = await http(a.port, "POST", "/v1/ns/peer/member/beat", body=b"{}")
        assert status == 403
        assert b"not signed" in body
        path = "/nacos/v1/ns/peer/member/beat"
        wrong = signed_headers(b"w" * 32, "POST", path, int(trio.current_time() * 1000), "n1", b.address, b"")
        status, _ = await http(a.port, "POST", path, headers={k.decode(): v.decode() for k, v in wrong})
        assert status == 403
        assert len(SECRET) >= 32


async def test_cluster_conf_is_reread_when_it_changes(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    conf = tmp_path / "cluster.conf"
    conf.write_text(f"# two members\n{LOOPBACK}:{ports[0]}\n{LOOPBACK}:{ports[1]}  # the second\n")
    async with running_cluster(tmp_path, 2, ports=ports, cluster_conf=str(conf)) as nodes:
        a, b = nodes
        await wait_for(lambda: a.member_state(b.address) == UP and a.members.version > 0, "b a member")
        absent = f"{LOOPBACK}:{free_port()}"
        conf.write_text(f"{LOOPBACK}:{ports[0]},{LOOPBACK}:{ports[1]}\n{absent}\n")
        await wait_for(lambda: a.member_state(absent) is not None, "the new member listed")
        await wait_for(lambda: a.member_state(absent) == DOWN, "the absent member DOWN")
        conf.write_text("not a member list: 10.0.0.1:99999\n")  # unusable: the list is kept
        await trio.sleep(0.3)
        assert a.member_state(absent) == DOWN
        conf.write_text(f"{LOOPBACK}:{ports[0]}\n")
        await wait_for(lambda: a.member_state(b.address) is None, "b no longer a member")
        assert a.members.healthy_addresses() == (a.address,)


async def test_cluster_members_from_an_address_server(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    listing = "\r\n".join(f"{LOOPBACK}:{port}" for port in ports).encode()

    def address_server(request: Request) -> Response:
        return Response(body=listing if request.path == "/nacos/serverlist" else b"")

    async with trio.open_nursery() as nursery:
        server_port = await nursery.start(
            lambda task_status: serve_http(address_server, _never_waits, LOOPBACK, 0, task_status=task_status)
        )
        url = f"http://{LOOPBACK}:{server_port}/nacos/serverlist"
        async with running_cluster(tmp_path, 2, ports=ports, address_server=url) as nodes:
            everyone = tuple(sorted(node.address for node in nodes))
            await wait_for(
                lambda: all(node.members.healthy_addresses() == everyone for node in nodes), "both listed"
            )
        nursery.cancel_scope.cancel()


async def test_cluster_beats_of_known_instances_are_relayed_to_the_owner(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, 2) as nodes:
        a, b = nodes
        name = owned_by(nodes, a)
        instance = {"serviceName": name, "ip": "10.0.0.1", "port": 8080}
        assert await http(a.port, "POST", REGISTER, instance) == (200, b"ok")
        # b knows the instance too (as Distro would have replicated it).
        assert a.running is not None
        assert b.running is not None
        service = a.running.state.registry.get("public", f"DEFAULT_GROUP@@{name}")
        assert service is not None
        (known,) = service.instances(ephemeral=True)
        upsert(b.running.state, "public", f"DEFAULT_GROUP@@{name}", known, monotonic_ms())
        key = effects.beat_key("public", f"DEFAULT_GROUP@@{name}", known.key)
        before = a.running.state.beats.last_beat(key)
        assert before is not None
        await trio.sleep(0.05)
        status, body = await http(b.port, "PUT", BEAT, instance)
        assert (status, json.loads(body)["code"]) == (200, 10200)
        owner_state = a.running.state
        await wait_for(lambda: (owner_state.beats.last_beat(key) or 0) > before, "the beat at the owner")
        cluster = b.running.cluster
        assert cluster is not None
        # The owner applied it before its answer reached b: wait for b to count the answer.
        await wait_for(lambda: cluster.forwarder.beats_relayed == 1, "b counting the relayed beat")


async def test_cluster_owner_that_lacks_a_beating_instance_gets_it_registered(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, 2) as nodes:
        a, b = nodes
        name = owned_by(nodes, a)
        grouped = f"DEFAULT_GROUP@@{name}"
        assert b.running is not None
        assert a.running is not None
        # b holds a copy the owner does not have (written on b while a was unreachable, say).
        known = Instance("10.0.0.3", 8081, "c1", weight=2.5, metadata={"zone": "z1"})
        upsert(b.running.state, "public", grouped, known, monotonic_ms())
        instance = {"serviceName": name, "ip": "10.0.0.3", "port": 8081, "clusterName": "c1"}
        status, body = await http(b.port, "PUT", BEAT, instance)
        assert (status, json.loads(body)["code"]) == (200, 10200)
        owner = a.running.state

        def on_owner() -> bool:
            service = owner.registry.get("public", grouped)
            return service is not None and service.get(known.key, True) is not None

        await wait_for(on_owner, "the instance registered on its owner")
        service = owner.registry.get("public", grouped)
        assert service is not None
        copied = service.get(known.key, True)
        assert copied is not None
        assert (copied.weight, dict(copied.metadata), copied.cluster) == (2.5, {"zone": "z1"}, "c1")
        assert effects.beat_key("public", grouped, known.key) in owner.beats
