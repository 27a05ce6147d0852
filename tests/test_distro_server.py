"""Distro between ``serve()`` nodes in one process over real loopback sockets (signed, zstd peer calls)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cluster_helpers import InProcessNode, get_json, http, owned_by, running_cluster, wait_for

REGISTER = "/v1/ns/instance"
LIST = "/v1/ns/instance/list"
METRICS = "/v1/ns/operator/metrics"


async def listed(node: InProcessNode, name: str) -> list[str]:
    status, body = await http(node.port, "GET", LIST, {"serviceName": name})
    if status != 200:
        return [f"status {status}"]
    return sorted(f"{host['ip']}:{host['port']}" for host in json.loads(body)["hosts"])


async def everywhere(nodes: list[InProcessNode], name: str, expected: list[str], what: str) -> None:
    async def agree() -> bool:
        return all([await listed(node, name) == expected for node in nodes])

    await wait_for(agree, what)


async def test_distro_server_register_and_deregister_reach_every_node(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, 3) as nodes:
        a, b, c = nodes
        name = owned_by(nodes, a)
        for ip in ("10.0.0.1", "10.0.0.2"):
            instance: dict[str, Any] = {"serviceName": name, "ip": ip, "port": 8080}
            assert await http(a.port, "POST", REGISTER, instance) == (200, b"ok")
        await everywhere(nodes, name, ["10.0.0.1:8080", "10.0.0.2:8080"], "registered everywhere")
        # a write through a node that does not own the service: forwarded, then replicated
        instance = {"serviceName": name, "ip": "10.0.0.1", "port": 8080}
        assert await http(c.port, "DELETE", REGISTER, instance) == (200, b"ok")
        await everywhere(nodes, name, ["10.0.0.2:8080"], "deregistered everywhere")
        metrics = await get_json(b.port, METRICS)
        assert metrics["distroReady"] is True
        assert metrics["distro"]["datumsApplied"] >= 2


async def test_distro_server_restarted_node_warms_up_from_its_peers(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, 3) as nodes:
        a, _b, c = nodes
        names = [owned_by(nodes, node) for node in nodes]
        await c.stop()
        await wait_for(lambda: len(a.members.peers()) == 1, "c DOWN on a")
        for name in names:
            instance = {"serviceName": name, "ip": "10.0.1.1", "port": 80}
            assert await http(a.port, "POST", REGISTER, instance) == (200, b"ok")
        await c.start()
        await wait_for(lambda: c.ready, "c warmed up")
        for name in names:  # loaded from a peer's snapshot (or replicated since), not re-registered
            assert await listed(c, name) == ["10.0.1.1:80"]
        metrics = await get_json(c.port, METRICS)
        assert metrics["status"] == "UP"
        assert metrics["distro"]["synced"] is True
        assert metrics["distro"]["snapshotDatumsLoaded"] >= len(names)
