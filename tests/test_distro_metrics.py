"""Distro's Prometheus figures (``DistroFigures``) over in-process nodes: in-memory links, virtual time."""

from __future__ import annotations

import trio
import trio.testing

from nacosfast.cluster.view import service_key
from nacosfast.metrics import MetricsRegistry
from nacosfast.naming.effects import beat_key
from nacosfast.server.clock import monotonic_ms
from tests.distro_helpers import FAST, Network, Node, addresses, make_node, owner_of, running_cluster, settle
from tests.test_server_metrics import Figures, samples_of

SERVICE = "orders"
GROUPED = "DEFAULT_GROUP@@orders"
ROUND_S = FAST.anti_entropy_period_ms / 1000


def figures(node: Node) -> Figures:
    """One scrape of ``node``'s ``distro`` collector, rendered and read back by ``prometheus_client``."""
    registry = MetricsRegistry()
    registry.register("distro", node.runner.figures.families)
    return samples_of(registry.render().decode())


def value(node: Node, name: str, **labels: str) -> float:
    """A sample of ``node``'s figures; a missing one fails the test."""
    return figures(node)[name, tuple(sorted(labels.items()))]


def others(nodes: list[Node], node: Node) -> list[Node]:
    return [other for other in nodes if other is not node]


async def test_distro_families_are_named_and_typed_in_the_house_style() -> None:
    members = addresses(3)
    node = make_node(Network(), members[0], members)
    families = node.runner.figures.families()
    names = [family.name for family in families]
    assert len(names) == len(set(names))
    assert all(name.startswith("nacosfast_distro_") for name in names)
    assert all(family.help for family in families)
    for family in families:
        if family.type == "counter":
            assert all(sample.name == family.name + "_total" for sample in family.samples)
    scraped = figures(node)
    assert scraped["nacosfast_distro_ready", ()] == 0  # peers listed: warming up
    assert scraped["nacosfast_distro_synced", ()] == 0
    assert scraped["nacosfast_distro_keys_deleted_total", ()] == 0
    assert scraped["nacosfast_distro_repairs_total", (("result", "done"),)] == 0
    # nothing sent yet: no per-peer sync samples, no age
    assert not any(name == "nacosfast_distro_sync_batches_total" for name, _ in scraped)
    assert not any(name == "nacosfast_distro_last_sync_age_seconds" for name, _ in scraped)


async def test_distro_figures_count_replication_per_peer(autojump_clock: trio.testing.MockClock) -> None:
    async with running_cluster() as (_network, nodes, _):
        owner = owner_of(nodes, SERVICE)
        replicas = others(nodes, owner)
        for index, node in enumerate(nodes):  # each warmed up from one snapshot of its peers
            assert value(node, "nacosfast_distro_ready") == 1, index
            assert value(node, "nacosfast_distro_snapshot_loads_total", result="loaded") == 1
        applied = [value(replica, "nacosfast_distro_datums_applied_total") for replica in replicas]
        for ip in range(1, 4):
            owner.register(SERVICE, f"10.0.0.{ip}")
            await settle(0.2)
        await settle(0.3)
        for replica, before in zip(replicas, applied, strict=True):
            address = replica.address
            assert value(owner, "nacosfast_distro_sync_batches_total", peer=address, result="sent") == 3
            assert value(owner, "nacosfast_distro_sync_keys_total", peer=address, result="sent") == 3
            assert value(owner, "nacosfast_distro_sync_batches_total", peer=address, result="failed") == 0
            # the last batch left at once (a quiet window before it) 0.5 s ago, plus the link's 1 ms
            assert 0.49 <= value(owner, "nacosfast_distro_last_sync_age_seconds", peer=address) <= 0.5
            assert value(owner, "nacosfast_distro_backlog", peer=address) == 0
            assert value(replica, "nacosfast_distro_datums_applied_total") == before + 3
        assert value(owner, "nacosfast_distro_services") == 1


async def test_distro_figures_count_failed_syncs_and_digests(autojump_clock: trio.testing.MockClock) -> None:
    async with running_cluster() as (network, nodes, _):
        owner = owner_of(nodes, SERVICE)
        lagging = others(nodes, owner)[0]
        network.down.add(lagging.address)
        owner.register(SERVICE, "10.0.0.1")
        await settle(ROUND_S * 1.5)
        address = lagging.address
        assert value(owner, "nacosfast_distro_sync_batches_total", peer=address, result="failed") >= 2
        assert value(owner, "nacosfast_distro_sync_keys_total", peer=address, result="failed") >= 2
        assert value(owner, "nacosfast_distro_sync_batches_total", peer=address, result="sent") == 0
        assert value(owner, "nacosfast_distro_backlog", peer=address) == 1
        assert value(owner, "nacosfast_distro_digest_send_failures_total") >= 1
        network.down.discard(address)
        await settle(1)
        assert value(owner, "nacosfast_distro_sync_batches_total", peer=address, result="sent") == 1
        assert value(owner, "nacosfast_distro_backlog", peer=address) == 0


async def test_distro_figures_count_anti_entropy_fetches(autojump_clock: trio.testing.MockClock) -> None:
    async with running_cluster() as (_network, nodes, _):
        owner = owner_of(nodes, SERVICE)
        replica = others(nodes, owner)[0]
        for ip in range(1, 6):
            owner.register(SERVICE, f"10.0.0.{ip}")
        await settle(0.5)
        rounds = value(owner, "nacosfast_distro_digest_rounds_total")
        received = value(replica, "nacosfast_distro_digests_received_total")
        assert value(replica, "nacosfast_distro_keys_requested_total") == 0
        # the replica's copy changes behind Distro's back: the next digest finds it and fetches it
        replica.state.registry.remove_instance("public", GROUPED, "10.0.0.3:8080:unknown:DEFAULT", True)
        await settle(ROUND_S * 2)
        assert replica.hosts(SERVICE) == owner.hosts(SERVICE)
        assert value(owner, "nacosfast_distro_digest_rounds_total") >= rounds + 1
        assert value(replica, "nacosfast_distro_digests_received_total") >= received + 2
        assert value(replica, "nacosfast_distro_repairs_total", result="done") >= 1
        assert value(replica, "nacosfast_distro_repaired_buckets_total") >= 1
        assert value(replica, "nacosfast_distro_keys_requested_total") == 1
        assert value(replica, "nacosfast_distro_keys_fetched_total") == 1
        assert value(replica, "nacosfast_distro_keys_deleted_total") == 0


async def test_distro_figures_count_anti_entropy_deletions(autojump_clock: trio.testing.MockClock) -> None:
    async with running_cluster() as (_network, nodes, _):
        owner = owner_of(nodes, SERVICE)
        replicas = others(nodes, owner)
        owner.register(SERVICE, "10.0.0.1")
        await settle(0.5)
        owner.state.registry.remove_service("public", GROUPED)
        owner.state.beats.untrack(beat_key("public", GROUPED, "10.0.0.1:8080:unknown:DEFAULT"))
        await settle(ROUND_S * 6)  # emptied by the owner's tombstone, then deleted once it is gone
        for replica in replicas:
            assert service_key("public", GROUPED) not in replica.distro.records
            assert value(replica, "nacosfast_distro_keys_deleted_total") == 1
            assert value(replica, "nacosfast_distro_services") == 0
        assert value(owner, "nacosfast_distro_keys_deleted_total") == 0


async def test_distro_figures_count_snapshot_warm_up(autojump_clock: trio.testing.MockClock) -> None:
    async with running_cluster() as (network, nodes, nursery):
        for index in range(30):
            owner_of(nodes, f"svc{index}").register(f"svc{index}", f"10.0.0.{index}")
        await settle(0.5)
        served = sum(value(node, "nacosfast_distro_snapshot_pages_served_total") for node in nodes)
        members = [*addresses(3), "127.0.0.1:9999"]
        for node in nodes:
            node.view.set_healthy(members, monotonic_ms())
        late = make_node(network, "127.0.0.1:9999", members)
        await nursery.start(late.runner.run)
        await settle(1)
        assert late.state.ready
        assert value(late, "nacosfast_distro_snapshot_loads_total", result="loaded") == 1
        assert value(late, "nacosfast_distro_snapshot_loads_total", result="failed") == 0
        assert value(late, "nacosfast_distro_snapshot_datums_loaded_total") == 30
        assert value(late, "nacosfast_distro_synced") == 1
        assert sum(value(node, "nacosfast_distro_snapshot_pages_served_total") for node in nodes) > served
