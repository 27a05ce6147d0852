"""Distro between ``serve()`` nodes in one process over real loopback sockets (signed, zstd peer calls)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nacosfast.cluster.members import service_key
from nacosfast.server.clock import monotonic_ms
from tests.cluster_helpers import InProcessNode, get_json, http, owned_by, running_cluster, wait_for
from tests.test_server_metrics import Figures, samples_of

REGISTER = "/v1/ns/instance"
LIST = "/v1/ns/instance/list"
METRICS = "/v1/ns/operator/metrics"
PROMETHEUS = "/nacos/actuator/prometheus"


async def listed(node: InProcessNode, name: str) -> list[str]:
    status, body = await http(node.port, "GET", LIST, {"serviceName": name})
    if status != 200:
        return [f"status {status}"]
    return sorted(f"{host['ip']}:{host['port']}" for host in json.loads(body)["hosts"])


async def scrape(node: InProcessNode) -> Figures:
    """Every sample of one Prometheus scrape of ``node``, read by ``prometheus_client``'s parser."""
    status, body = await http(node.port, "GET", PROMETHEUS)
    assert status == 200
    return samples_of(body.decode())


async def figure(node: InProcessNode, name: str, **labels: str) -> float:
    """One sample of ``node``'s scrape (0 if it is not there yet)."""
    return (await scrape(node)).get((name, tuple(sorted(labels.items()))), 0.0)


def sent_to(peer: InProcessNode) -> dict[str, str]:
    return {"peer": peer.address, "result": "sent"}


async def everywhere(nodes: list[InProcessNode], name: str, expected: list[str], what: str) -> None:
    async def agree() -> bool:
        return all([await listed(node, name) == expected for node in nodes])

    await wait_for(agree, what)


async def test_distro_server_register_and_deregister_reach_every_node(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, 3) as nodes:
        a, b, c = nodes
        name = owned_by(nodes, a)
        batches = [await figure(a, "nacosfast_distro_sync_batches_total", **sent_to(peer)) for peer in (b, c)]
        applied = await figure(b, "nacosfast_distro_datums_applied_total")
        for ip in ("10.0.0.1", "10.0.0.2"):
            instance: dict[str, Any] = {"serviceName": name, "ip": ip, "port": 8080}
            assert await http(a.port, "POST", REGISTER, instance) == (200, b"ok")
        await everywhere(nodes, name, ["10.0.0.1:8080", "10.0.0.2:8080"], "registered everywhere")
        for peer, before in zip((b, c), batches, strict=True):
            assert await figure(a, "nacosfast_distro_sync_batches_total", **sent_to(peer)) > before
            assert await figure(a, "nacosfast_distro_sync_keys_total", **sent_to(peer)) >= 1
            assert await figure(a, "nacosfast_distro_last_sync_age_seconds", peer=peer.address) < 5
        assert await figure(b, "nacosfast_distro_datums_applied_total") >= applied + 1
        assert await figure(b, "nacosfast_distro_ready") == 1
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


async def test_distro_server_anti_entropy_shows_in_prometheus(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, 3) as nodes:
        a, b, _c = nodes
        name = owned_by(nodes, a)
        for ip in ("10.0.2.1", "10.0.2.2"):
            instance = {"serviceName": name, "ip": ip, "port": 80}
            assert await http(a.port, "POST", REGISTER, instance) == (200, b"ok")
        await everywhere(nodes, name, ["10.0.2.1:80", "10.0.2.2:80"], "registered everywhere")

        async def digest_went_round() -> bool:  # once a is synced (it may have started alone)
            return await figure(a, "nacosfast_distro_digest_rounds_total") >= 1

        await wait_for(digest_went_round, "a's first anti-entropy round")
        assert b.running is not None
        assert b.running.cluster is not None
        distro = b.running.cluster.distro.distro
        fetched = await figure(b, "nacosfast_distro_keys_fetched_total")
        # b's copy changes behind Distro's back: a's next summary differs, b fetches the owner's copy
        grouped = f"DEFAULT_GROUP@@{name}"
        assert b.running.state.registry.remove_instance(
            "public", grouped, "10.0.2.1:80:unknown:DEFAULT", True
        )

        async def fetched_again() -> bool:
            return await figure(b, "nacosfast_distro_keys_fetched_total") > fetched

        await wait_for(fetched_again, "b fetched its copy from the owner")
        assert await listed(b, name) == ["10.0.2.1:80", "10.0.2.2:80"]
        assert await figure(b, "nacosfast_distro_digests_received_total") >= 1
        assert await figure(b, "nacosfast_distro_keys_requested_total") >= 1
        assert await figure(b, "nacosfast_distro_repairs_total", result="done") >= 1
        # an emptied copy of a service a owns but does not list: deleted by the next repair
        stray = owned_by(nodes, a, namespace="stray")
        key = service_key("stray", f"DEFAULT_GROUP@@{stray}")
        deleted = await figure(b, "nacosfast_distro_keys_deleted_total")
        datum = json.dumps({"d": [[key, distro.clock + 5, 0, ""]]}).encode()
        assert distro.apply_datums(datum, monotonic_ms()) == 1

        async def deleted_again() -> bool:
            return await figure(b, "nacosfast_distro_keys_deleted_total") > deleted

        await wait_for(deleted_again, "b deleted what the owner does not list")
        assert key not in distro.records
