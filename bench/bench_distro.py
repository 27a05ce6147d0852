"""Distro figures: snapshot compression (zstd-1 vs gzip-6), anti-entropy bytes per round, change latency.

    .venv/bin/python bench/bench_distro.py                      # 100,000 instances over 1,000 services
    .venv/bin/python bench/bench_distro.py -n 100000 -s 10000   # same instances, 10 per service
    .venv/bin/python -m pytest bench/bench_distro.py --benchmark-disable -q   # smoke run, small sizes

What it measures (one process, no HTTP; the peer transport compresses every payload with zstd-1, which
is what "on the wire" means here — add ~400 bytes of HTTP head and signature per call):

1. a full snapshot of every service (``DatumCodec.encode``): raw
   size, encode time, zstd-1 and gzip-6
   (Nacos's Distro uses gzip) compressed sizes and times, decompression, decode+apply on another node;
2. anti-entropy: three nodes holding the same 100,000 instances, one steady-state round (every node
   sends its summary to both peers), bytes sent per node; then one changed service and the repair
   traffic it causes;
3. change latency: three nodes over in-memory links that zstd the payloads, on Trio's real clock;
   ``register`` on the owner to ``service_changed`` (push notified) on both peers, for isolated changes
   and for changes every 20 ms (coalesced by the 100 ms window).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.lowlevel
import zstandard

from nacosfast._core.registry import Instance
from nacosfast.cluster.distro import KIND_DIGEST, KIND_FETCH, KIND_SNAPSHOT, KIND_TABLE, Distro
from nacosfast.cluster.view import StaticMembership, service_key
from nacosfast.naming.meta import DEFAULT_SERVICE_META
from nacosfast.naming.state import NamingState, ServerIdentity
from nacosfast.server.clock import monotonic_ms
from nacosfast.server.distro_runner import DistroRunner

MEMBERS = ("127.0.0.1:8848", "127.0.0.1:8849", "127.0.0.1:8850")
EPOCH_MS = 1_700_000_000_000


class TimedPush:
    """A push sink that records when each service change was announced (monotonic seconds)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.changed: dict[str, float] = {}
        self.subscriber_count = 0

    def service_changed(self, namespace: str, service: str, now_ms: int) -> None:
        self.changed.setdefault(service, self.clock())

    def subscribe(self, *args: Any, **kwargs: Any) -> None:
        return None

    def subscribers(self, namespace: str, service: str) -> list[Any]:
        return []

    def subscribers_fuzzy(self, namespace: str, service: str) -> list[Any]:
        return []

    def counters(self) -> dict[str, Any]:
        return {}

    def push_state(self, detail: bool = False, reset: bool = False) -> dict[str, Any]:
        return {}


class NullJournal:
    def append(self, payload: bytes) -> int:
        return 0


def make_state(address: str, push: TimedPush | None = None) -> NamingState:
    host, _, port = address.rpartition(":")
    identity = ServerIdentity(host, int(port))
    return NamingState(push=push or TimedPush(), journal=NullJournal(), identity=identity)


def make_node(address: str) -> Distro:
    distro = Distro(make_state(address), StaticMembership(address, MEMBERS), EPOCH_MS, 0)
    distro.snapshot_loaded()
    return distro


def instance(n: int) -> Instance:
    return Instance(
        f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
        8080,
        metadata={"version": f"1.{n % 4}.0", "zone": f"zone-{n % 3}"},
    )


def fill(distro: Distro, instances: int, services: int) -> None:
    """``instances`` spread over ``services`` services, written locally (as registrations would be)."""
    registry = distro.state.registry
    per_service = max(1, instances // services)
    for index in range(services):
        name = f"DEFAULT_GROUP@@service-{index}"
        start = index * per_service
        batch = [instance(n) for n in range(start, start + per_service)]
        registry.put_instances("public", name, batch, DEFAULT_SERVICE_META)
        distro.local_change("public", name, 0)


def timed(function: Callable[[], Any], repeat: int = 3) -> tuple[Any, float]:
    """The result and the best wall time of ``repeat`` calls, in ms."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return result, best * 1000


def snapshot_figures(instances: int, services: int) -> dict[str, float]:
    source = make_node(MEMBERS[0])
    fill(source, instances, services)
    records = source.records
    registry = source.state.registry

    def encode() -> bytes:
        entries = [(key, r.version, registry.get(r.namespace, r.name)) for key, r in sorted(records.items())]
        return source.codec.encode(entries, {"ready": True, "next": None})

    start = time.perf_counter()
    encode()  # the rows of each snapshot are memoized on it: time the first encoding and a repeat apart
    cold_encode_ms = (time.perf_counter() - start) * 1000
    raw, encode_ms = timed(encode)
    zstd_out, zstd_ms = timed(lambda: zstandard.ZstdCompressor(level=1).compress(raw))
    gzip_out, gzip_ms = timed(lambda: gzip.compress(raw, compresslevel=6))
    _, unzstd_ms = timed(lambda: zstandard.ZstdDecompressor().decompress(zstd_out))
    _, ungzip_ms = timed(lambda: gzip.decompress(gzip_out))
    target = make_node(MEMBERS[1])
    start = time.perf_counter()
    target.load_snapshot_page(raw, 0)
    apply_ms = (time.perf_counter() - start) * 1000
    assert target.state.registry.instance_count == source.state.registry.instance_count
    # then one new instance in every service: one sync message of every service, as after churn
    names = sorted({record.name for record in records.values()})
    for index, name in enumerate(names):
        registry.put_instance("public", name, instance(5_000_000 + index), DEFAULT_SERVICE_META)
        source.local_change("public", name, 0)
    entries = [(key, r.version, registry.get(r.namespace, r.name)) for key, r in sorted(records.items())]
    start = time.perf_counter()
    changed = source.codec.encode(entries)
    churn_encode_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    assert target.apply_datums(changed, 1) == len(names)
    churn_apply_ms = (time.perf_counter() - start) * 1000
    return {
        "cold_encode_ms": cold_encode_ms,
        "churn_encode_ms": churn_encode_ms,
        "churn_apply_ms": churn_apply_ms,
        "raw_bytes": len(raw),
        "encode_ms": encode_ms,
        "zstd1_bytes": len(zstd_out),
        "zstd1_ms": zstd_ms,
        "zstd1_decompress_ms": unzstd_ms,
        "gzip6_bytes": len(gzip_out),
        "gzip6_ms": gzip_ms,
        "gzip6_decompress_ms": ungzip_ms,
        "decode_apply_ms": apply_ms,
    }


def wire(payload: bytes) -> int:
    """Bytes of ``payload`` after the transport's zstd-1."""
    return len(zstandard.ZstdCompressor(level=1).compress(payload))


def anti_entropy_figures(instances: int, services: int) -> dict[str, float]:
    nodes = [make_node(address) for address in MEMBERS]
    fill(nodes[0], instances, services)
    for node in nodes[1:]:  # warm-up: every page of the first node's snapshot
        cursor = None
        while True:
            page = nodes[0].handle(KIND_SNAPSHOT, node.snapshot_request(cursor), 0)
            _, cursor = node.load_snapshot_page(page, 0)
            if cursor is None:
                break
    by_address = {node.view.self_address: node for node in nodes}

    def round_bytes(now_ms: int) -> tuple[dict[str, int], float]:
        """One round: every node's summary to both peers, then any repairs. Bytes sent per node."""
        sent = dict.fromkeys(by_address, 0)
        summary_ms = 0.0
        for node in nodes:
            start = time.perf_counter()
            summary = node.digest_round(now_ms)
            summary_ms = max(summary_ms, (time.perf_counter() - start) * 1000)
            assert summary is not None
            for peer in node.view.peers():
                sent[node.view.self_address] += wire(summary)
                by_address[peer].handle(KIND_DIGEST, summary, now_ms)
        for node in nodes:
            while (repair := node.next_repair()) is not None:
                owner = by_address[repair.source]
                sent[node.view.self_address] += wire(repair.table_request)
                table = owner.handle(KIND_TABLE, repair.table_request, now_ms)
                sent[owner.view.self_address] += wire(table)
                for keys in node.plan_repair(repair, table, now_ms):
                    request = node.fetch_request(keys)
                    sent[node.view.self_address] += wire(request)
                    reply = owner.handle(KIND_FETCH, request, now_ms)
                    sent[owner.view.self_address] += wire(reply)
                    node.fetched(reply, now_ms)
        return sent, summary_ms

    round_bytes(1)  # the first round also builds each node's owner index (once per membership change)
    steady, summary_ms = round_bytes(1)
    # one service changes on its owner without the sync reaching anyone: the next round repairs it
    owner = nodes[0]
    name = "DEFAULT_GROUP@@service-0"
    key = service_key("public", name)
    owner = by_address[owner.owner(key)]
    owner.state.registry.put_instance("public", name, instance(10_000_000), DEFAULT_SERVICE_META)
    owner.local_change("public", name, 2)
    owner.due_syncs(10_000)  # taken and dropped: lost in the network
    repaired, _ = round_bytes(3)
    for node in nodes:
        held = node.state.registry.get("public", name)
        assert held is not None
        assert held.ephemeral_count == max(1, instances // services) + 1
    return {
        "steady_bytes_per_node_max": max(steady.values()),
        "summary_ms": summary_ms,
        "repair_round_bytes_max": max(repaired.values()),
    }


async def latency_run(changes: int, spacing_s: float) -> list[float]:
    """ms from a local change on the owner to ``service_changed`` on both peers, per change."""
    pushes = {address: TimedPush(trio.current_time) for address in MEMBERS}
    nodes: dict[str, Distro] = {}
    runners: dict[str, DistroRunner] = {}
    compressor = zstandard.ZstdCompressor(level=1)
    decompressor = zstandard.ZstdDecompressor()

    def sender(source: str) -> Callable[[str, str, bytes], Any]:
        async def send(address: str, kind: str, payload: bytes) -> bytes:
            body = decompressor.decompress(compressor.compress(payload))
            await trio.lowlevel.checkpoint()
            return runners[address].handle(kind, body, monotonic_ms())

        return send

    for address in MEMBERS:
        state = make_state(address, pushes[address])
        view = StaticMembership(address, MEMBERS)
        nodes[address] = Distro(state, view, EPOCH_MS, monotonic_ms())
        nodes[address].ready = state.ready = True
        runners[address] = DistroRunner(nodes[address], sender(address))
    owner = nodes[MEMBERS[0]]
    latencies = []
    async with trio.open_nursery() as nursery:
        for runner in runners.values():
            nursery.start_soon(runner.run)
        await trio.sleep(0.05)
        for index in range(changes):
            name = f"DEFAULT_GROUP@@latency-{index}"
            started = trio.current_time()
            owner.state.registry.put_instance("public", name, instance(index), DEFAULT_SERVICE_META)
            owner.local_change("public", name, monotonic_ms())
            peers = [pushes[address] for address in MEMBERS[1:]]
            for _ in range(2_000):
                if all(name in push.changed for push in peers):
                    break
                await trio.sleep(0.001)
            latencies.append((max(push.changed[name] for push in peers) - started) * 1000)
            await trio.sleep(spacing_s)
        nursery.cancel_scope.cancel()
    return latencies


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {ordered[-1]:.1f} ms  (n={len(ordered)})"


# --- smoke run under pytest (figures come from the script) ---------------------------------------------


def test_bench_distro_snapshot_smoke() -> None:
    figures = snapshot_figures(1_000, 10)
    assert figures["zstd1_bytes"] < figures["raw_bytes"]


def test_bench_distro_anti_entropy_smoke() -> None:
    figures = anti_entropy_figures(1_000, 100)
    assert figures["steady_bytes_per_node_max"] > 0


@pytest.mark.parametrize("spacing_s", [0.0, 0.15])
def test_bench_distro_latency_smoke(spacing_s: float) -> None:
    assert len(trio.run(latency_run, 3, spacing_s)) == 3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--instances", type=int, default=100_000)
    parser.add_argument("-s", "--services", type=int, default=1_000)
    parser.add_argument("--changes", type=int, default=200)
    args = parser.parse_args()
    print(f"== full snapshot: {args.instances:,} instances over {args.services:,} services")
    figures = snapshot_figures(args.instances, args.services)
    print(
        f"raw JSON {figures['raw_bytes']:,} B, encoded in {figures['cold_encode_ms']:.0f} ms "
        f"({figures['encode_ms']:.1f} ms again: rows memoized on each snapshot)"
    )
    for codec in ("zstd1", "gzip6"):
        size = figures[f"{codec}_bytes"]
        ratio = figures["raw_bytes"] / size
        print(
            f"{codec}: {size:,} B ({ratio:.1f}x) compress {figures[f'{codec}_ms']:.1f} ms, "
            f"decompress {figures[f'{codec}_decompress_ms']:.1f} ms"
        )
    print(f"decode + apply on another node: {figures['decode_apply_ms']:.0f} ms")
    print(
        f"then one new instance in every service: encode {figures['churn_encode_ms']:.0f} ms, "
        f"decode + apply {figures['churn_apply_ms']:.0f} ms (unchanged rows reused)"
    )
    print(f"== anti-entropy, 3 nodes, {args.instances:,} instances over {args.services:,} services")
    entropy = anti_entropy_figures(args.instances, args.services)
    print(
        f"steady round: {entropy['steady_bytes_per_node_max']:,} B sent per node (max over nodes, zstd-1), "
        f"summary computed in {entropy['summary_ms']:.1f} ms"
    )
    print(f"round after one lost change: {entropy['repair_round_bytes_max']:,} B sent per node (max)")
    for spacing in (0.25, 0.02):
        latencies = trio.run(latency_run, args.changes, spacing)
        every = f"a change every {spacing * 1000:.0f} ms"
        print(f"== change latency to both peers, {every}: {percentiles(latencies)}")


if __name__ == "__main__":
    main()
