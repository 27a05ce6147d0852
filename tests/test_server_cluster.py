"""Several nodes in one process over real loopback sockets: membership, forwarding, peer security."""

from __future__ import annotations

import json
from pathlib import Path

import trio

from nacosfast.cluster.auth import signed_headers
from nacosfast.cluster.members import DOWN, UP
from tests.cluster_helpers import (
    SECRET,
    get_json,
    http,
    owned_by,
    running_cluster,
    wait_for,
)

REGISTER = "/v1/ns/instance"
LIST = "/v1/ns/instance/list"
BEAT = "/v1/ns/instance/beat"


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
        # b forwarded it; it did not keep a copy of its own (replication is Distro's job).
        assert (await get_json(b.port, LIST, {"serviceName": name}))["hosts"] == []
        # A light beat on b for an instance b does not know goes to the owner, which knows it.
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
