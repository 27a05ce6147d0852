"""Distro replication between several nodes in one process: in-memory links, virtual time."""

from __future__ import annotations

import dataclasses
import gzip
import json

import trio
import trio.testing

from nacosfast.cluster.view import service_key
from nacosfast.naming.effects import beat_key
from nacosfast.naming.push import PushHub
from nacosfast.server.clock import monotonic_ms
from tests.distro_helpers import (
    FAST,
    Network,
    addresses,
    eventually,
    make_node,
    owner_of,
    running_cluster,
    settle,
)
from tests.naming_helpers import call

SERVICE = "orders"
GROUPED = "DEFAULT_GROUP@@orders"


async def test_distro_register_on_owner_is_visible_on_every_node(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_cluster() as (_network, nodes, _):
        owner = owner_of(nodes, SERVICE)
        owner.register(SERVICE, "10.0.0.1")
        owner.register(SERVICE, "10.0.0.2")
        took = await eventually(lambda: all(node.hosts(SERVICE) == owner.hosts(SERVICE) for node in nodes), 1)
        assert took <= 0.1  # the coalescing window (20 ms here) plus one link hop
        for node in nodes:
            assert node.listed(SERVICE) == (200, ["10.0.0.1:8080", "10.0.0.2:8080"])
            # replicated changes reach the local push hub, so local subscribers are pushed
            assert ("public", GROUPED) in node.recorded.changed


async def test_distro_subscriber_on_a_peer_is_pushed_a_replicated_change(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_cluster(real_push=True) as (_network, nodes, _):
        owner = owner_of(nodes, SERVICE)
        peer = next(node for node in nodes if node is not owner)
        hub = peer.state.push
        assert isinstance(hub, PushHub)
        subscribe = {"serviceName": SERVICE, "udpPort": 40000, "clientIP": "127.0.0.1"}
        listed = call(peer.app, "GET", "/v1/ns/instance/list", subscribe, now_ms=monotonic_ms())
        assert json.loads(listed.body)["hosts"] == []
        assert hub.subscriber_count == 1
        hub.poll(monotonic_ms())  # nothing to push yet
        owner.register(SERVICE, "10.0.0.5")
        await settle(0.3)  # replication, then the push coalescing window
        packets = hub.poll(monotonic_ms())
        assert [packet.addr for packet in packets] == [("127.0.0.1", 40000)]
        payload = packets[0].payload
        body = json.loads(gzip.decompress(payload) if payload[:2] == b"\x1f\x8b" else payload)
        assert [host["ip"] for host in json.loads(body["data"])["hosts"]] == ["10.0.0.5"]


async def test_distro_deregister_reaches_every_node(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_cluster() as (_network, nodes, _):
        owner = owner_of(nodes, SERVICE)
        owner.register(SERVICE, "10.0.0.1")
        owner.register(SERVICE, "10.0.0.2")
        await settle(0.5)
        owner.deregister(SERVICE, "10.0.0.1")
        await settle(0.5)
        for node in nodes:
            assert node.hosts(SERVICE) == ["10.0.0.2:8080:True"]


async def test_distro_only_the_owner_tracks_beats(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_cluster() as (_network, nodes, _):
        owner = owner_of(nodes, SERVICE)
        others = [node for node in nodes if node is not owner]
        # written on a node that does not own the service: it is replicated to the owner as well
        others[0].register(SERVICE, "10.0.0.9")
        await settle(0.5)
        key = beat_key("public", GROUPED, "10.0.0.9:8080:unknown:DEFAULT")
        assert key in owner.state.beats
        assert key not in others[1].state.beats
        for node in nodes:
            assert node.hosts(SERVICE) == ["10.0.0.9:8080:True"]


async def test_distro_write_on_any_node_converges(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_cluster() as (_network, nodes, _):
        for index, node in enumerate(nodes):
            node.register(f"svc{index}", f"10.0.1.{index}")
            node.register("shared", f"10.0.2.{index}")
            await settle(0.2)  # one writer at a time: versions order the writes
        await settle(0.5)
        expected = nodes[0].hosts("shared")
        assert len(expected) == 3
        for node in nodes:
            assert node.hosts("shared") == expected
            for index in range(3):
                assert node.hosts(f"svc{index}") == [f"10.0.1.{index}:8080:True"]


async def test_distro_anti_entropy_repairs_a_divergent_copy(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_cluster() as (network, nodes, _):
        owner = owner_of(nodes, SERVICE)
        replica = next(node for node in nodes if node is not owner)
        for ip in range(1, 6):
            owner.register(SERVICE, f"10.0.0.{ip}")
        await settle(0.5)
        # the replica's copy changes behind Distro's back (no hook sees it)
        replica.state.registry.remove_instance("public", GROUPED, "10.0.0.3:8080:unknown:DEFAULT", True)
        assert replica.hosts(SERVICE) != owner.hosts(SERVICE)
        fetched = network.calls.get("distro/fetch", 0)
        await settle(FAST.anti_entropy_period_ms / 1000 * 2)
        assert replica.hosts(SERVICE) == owner.hosts(SERVICE)
        assert network.calls["distro/fetch"] > fetched


async def test_distro_anti_entropy_deletes_what_the_owner_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_cluster() as (_network, nodes, _):
        owner = owner_of(nodes, SERVICE)
        replica = next(node for node in nodes if node is not owner)
        owner.register(SERVICE, "10.0.0.1")
        await settle(0.5)
        # the owner forgets the service without telling anyone (Nacos never syncs a removed key)
        owner.state.registry.remove_service("public", GROUPED)
        owner.state.beats.untrack(beat_key("public", GROUPED, "10.0.0.1:8080:unknown:DEFAULT"))
        await settle(FAST.anti_entropy_period_ms / 1000 * 3)
        # the owner's self-check versions the change (an empty set), so every copy is emptied
        assert replica.hosts(SERVICE) == []
        await settle(FAST.anti_entropy_period_ms / 1000 * 3)
        assert service_key("public", GROUPED) not in replica.distro.records
        assert replica.state.registry.get("public", GROUPED) is None


async def test_distro_no_deletion_while_membership_is_unstable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_cluster(settle_ms=10_000) as (_network, nodes, _):
        await settle(11)
        owner = owner_of(nodes, SERVICE)
        replica = next(node for node in nodes if node is not owner)
        # an (emptied) copy of a key the owner does not list: deleted only once membership is stable
        key = service_key("public", GROUPED)
        stray = json.dumps({"d": [[key, replica.distro.clock + 5, 0, ""]]})
        assert replica.distro.apply_datums(stray.encode(), monotonic_ms()) == 1
        for node in nodes:  # a membership change: nothing may be deleted for the settle window
            node.view.version += 1
            node.view.changed_ms = monotonic_ms()
        await settle(FAST.anti_entropy_period_ms / 1000 * 3)
        assert key in replica.distro.records
        assert replica.distro.counters["deletionsDeferred"] > 0
        await settle(10)
        assert key not in replica.distro.records


async def test_distro_owner_that_missed_a_write_gets_it_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_cluster() as (_network, nodes, _):
        owner = owner_of(nodes, SERVICE)
        holder = next(node for node in nodes if node is not owner)
        # the holder has instances the owner never heard of (a write replicated to it alone)
        key = service_key("public", GROUPED)
        row = json.dumps(["10.0.0.7", 8080, "DEFAULT", 1.0, 3, {}, None, None])
        datum = json.dumps({"d": [[key, holder.distro.clock + 1, 0, row]]})
        assert holder.distro.apply_datums(datum.encode(), monotonic_ms()) == 1
        assert owner.hosts(SERVICE) == []
        await settle(FAST.anti_entropy_period_ms / 1000 * 3)
        assert holder.distro.counters["keysPushedBack"] > 0
        for node in nodes:
            assert node.hosts(SERVICE) == ["10.0.0.7:8080:True"]
        # the owner treats them as just beaten: it alone will expire them if they never beat
        assert beat_key("public", GROUPED, "10.0.0.7:8080:unknown:DEFAULT") in owner.state.beats


async def test_distro_peer_down_then_back_catches_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_cluster() as (network, nodes, _):
        owner = owner_of(nodes, SERVICE)
        lagging = next(node for node in nodes if node is not owner)
        network.down.add(lagging.address)
        for ip in range(1, 4):
            owner.register(SERVICE, f"10.0.0.{ip}")
        await settle(2)
        assert lagging.hosts(SERVICE) == []
        assert owner.distro.counters["syncFailed"] > 0
        network.down.discard(lagging.address)
        await settle(1)  # the back-off is at most 400 ms here
        assert lagging.hosts(SERVICE) == owner.hosts(SERVICE)


async def test_distro_slow_peer_backlog_falls_back_to_anti_entropy(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = dataclasses.replace(FAST, fetch_pause_ms=10, max_backlog_keys=10)
    async with running_cluster(config=config) as (network, nodes, _):
        writer = nodes[0]
        lagging = nodes[1]
        network.down.add(lagging.address)
        for index in range(40):
            writer.register(f"svc{index}", "10.0.0.1")
        await settle(1)
        assert writer.distro.counters["backlogDropped"] > 0
        assert writer.distro.backlog()[lagging.address] <= 10
        network.down.discard(lagging.address)
        await settle(5)
        for index in range(40):
            assert lagging.hosts(f"svc{index}") == ["10.0.0.1:8080:True"]


async def test_distro_warm_up_loads_a_snapshot_before_serving(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_cluster() as (network, nodes, nursery):
        for index in range(30):
            owner_of(nodes, f"svc{index}").register(f"svc{index}", f"10.0.0.{index}")
        await settle(0.5)
        members = [*addresses(3), "127.0.0.1:9999"]
        for node in nodes:
            node.view.set_healthy(members, monotonic_ms())
        late = make_node(network, "127.0.0.1:9999", members)
        assert not late.state.ready
        assert late.listed("svc1")[0] == 503
        metrics = call(late.app, "GET", "/v1/ns/operator/metrics")
        assert metrics.status == 200
        assert json.loads(metrics.body)["status"] == "STARTING"
        assert json.loads(metrics.body)["distroReady"] is False
        await nursery.start(late.runner.run)
        await eventually(lambda: late.state.ready, 5)
        assert late.distro.synced
        for index in range(30):
            assert late.listed(f"svc{index}") == (200, [f"10.0.0.{index}:8080"])
        body = json.loads(call(late.app, "GET", "/v1/ns/operator/metrics").body)
        assert body["status"] == "UP"
        assert body["distroReady"] is True
        assert body["distro"]["snapshotDatumsLoaded"] == 30


async def test_distro_warm_up_without_peers_starts_alone_then_merges(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_cluster() as (network, nodes, nursery):
        nodes[0].register(SERVICE, "10.0.0.1")
        await settle(0.5)
        members = [*addresses(3), "127.0.0.1:9999"]
        late = make_node(network, "127.0.0.1:9999", members)
        for node in nodes:
            network.down.add(node.address)
        await nursery.start(late.runner.run)
        await settle(FAST.warmup_timeout_ms / 1000 - 0.5)
        assert late.status() == (False, False)
        await settle(1)
        assert late.status() == (True, False)  # started alone at the deadline, not synced yet
        assert late.distro.digest_round(monotonic_ms()) is None  # speaks for nothing before merging
        network.down.clear()
        await settle(1)
        assert late.distro.synced
        assert late.hosts(SERVICE) == ["10.0.0.1:8080:True"]


async def test_distro_anti_entropy_is_quiet_when_in_sync(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_cluster() as (network, nodes, _):
        for index in range(200):
            owner_of(nodes, f"svc{index}").register(f"svc{index}", "10.0.0.1")
        await settle(3)
        tables = network.calls.get("distro/table", 0)
        digests = network.calls.get("distro/digest", 0)
        await settle(FAST.anti_entropy_period_ms / 1000 * 3)
        assert network.calls["distro/digest"] >= digests + 3 * 6
        assert network.calls.get("distro/table", 0) == tables


async def test_distro_warm_up_with_every_peer_down_starts_alone_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    network = Network()
    members = addresses(3)
    first = make_node(network, members[0], members)
    async with trio.open_nursery() as nursery:
        await nursery.start(first.runner.run)
        await settle(0.2)
        assert first.status() == (False, False)  # peers listed healthy: it waits for them
        first.view.set_healthy([], monotonic_ms())  # membership finds them DOWN
        await settle(FAST.warmup_retry_ms / 1000 * 2)
        assert first.status() == (True, False)
        nursery.cancel_scope.cancel()
