"""Micro-benchmarks of the compiled core, called directly (no Trio, no HTTP).

    .venv/bin/python -m pytest bench/bench_core.py --benchmark-only
    .venv/bin/python -m pytest bench --benchmark-disable -q       # smoke run: small sizes, one call each

Targets on the project's 2-core machine (docs: issue #2): beat on a tracked instance <= 0.3 µs; sweep of
1,000,000 instances with nothing expired <= 10 ms; put_instance into a 100-instance service <= 10 µs;
registry.get + service.cached <= 1 µs; diff of two 100,000-key digest tables, 1% different, <= 20 ms.
``test_put_instance_10k`` next to ``test_copy_10k_dict`` shows that a write to a 10,000-instance
service does not copy the service.

Sizes shrink when benchmarks are disabled so the smoke run stays fast; ``NACOSFAST_BENCH_SCALE``
(a float, default 1) scales them explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from nacosfast._core.beats import BeatTable
from nacosfast._core.digest import DigestTable, decode
from nacosfast._core.registry import Instance, Registry

NAMESPACE = "public"
SERVICE = "DEFAULT_GROUP@@orders"
Benchmark = Any  # pytest-benchmark's fixture has no public type


@pytest.fixture
def scale(request: pytest.FixtureRequest) -> float:
    """1.0 for real runs; 0.001 under ``--benchmark-disable`` unless NACOSFAST_BENCH_SCALE is set."""
    explicit = os.environ.get("NACOSFAST_BENCH_SCALE")
    if explicit:
        return float(explicit)
    return 0.001 if request.config.getoption("benchmark_disable") else 1.0


def sized(count: int, scale: float, minimum: int = 10) -> int:
    return max(minimum, int(count * scale))


def make_instance(n: int, **fields: Any) -> Instance:
    return Instance(
        f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
        8080,
        metadata={"version": f"1.{n % 4}.0", "zone": f"zone-{n % 3}"},
        **fields,
    )


def registry_with(count: int) -> Registry:
    registry = Registry()
    assert registry.put_instances(NAMESPACE, SERVICE, [make_instance(n) for n in range(count)], None)
    return registry


def alternate(registry: Registry, count: int) -> Callable[[], object]:
    """A put that really changes the service every call (the weight of one instance flips)."""
    variants = [make_instance(count // 2, weight=1.0), make_instance(count // 2, weight=2.0)]
    state = [0]

    def put() -> object:
        state[0] ^= 1
        return registry.put_instance(NAMESPACE, SERVICE, variants[state[0]], None)

    return put


# --- beats -------------------------------------------------------------------------------------------


def beat_table(count: int) -> tuple[BeatTable, list[tuple[str, str, str]]]:
    table = BeatTable(capacity_hint=count)
    keys = [
        (NAMESPACE, f"DEFAULT_GROUP@@s-{n // 100}", f"10.0.0.{n}:8080:unknown:DEFAULT") for n in range(count)
    ]
    for key in keys:
        table.track(key, 0, 15_000, 30_000)
    return table, keys


def test_beat_existing(benchmark: Benchmark, scale: float) -> None:
    """Target <= 0.3 µs: one dict probe (hashing the app's 3-tuple key) and one store."""
    table, keys = beat_table(sized(1_000_000, scale))
    key = keys[len(keys) // 2]
    assert benchmark(table.beat, key, 1_000) == 1


def test_sweep_nothing_expired(benchmark: Benchmark, scale: float) -> None:
    """Target <= 10 ms for 1,000,000 tracked instances, none past its timeout."""
    table, _ = beat_table(sized(1_000_000, scale))
    assert benchmark(table.sweep, 10_000) == ([], [])


# --- registry ----------------------------------------------------------------------------------------


def test_put_instance_100(benchmark: Benchmark) -> None:
    """Target <= 10 µs: a register that changes a 100-instance service (new snapshot, new revision)."""
    put = alternate(registry_with(100), 100)
    assert benchmark(put) is not None


def test_put_instance_10k(benchmark: Benchmark, scale: float) -> None:
    """A register into a 10,000-instance service: copies one chunk + the chunk tuple, not the service."""
    count = sized(10_000, scale, minimum=300)
    put = alternate(registry_with(count), count)
    assert benchmark(put) is not None


def test_put_instance_100k(benchmark: Benchmark, scale: float) -> None:
    """A register that changes an instance of a 100,000-instance service: about the 10k figure (a
    write copies one chunk, one page of references and the short list of pages, not O(n) tuples)."""
    count = sized(100_000, scale, minimum=300)
    put = alternate(registry_with(count), count)
    assert benchmark(put) is not None


def add_and_forget(benchmark: Benchmark, registry: Registry) -> None:
    """Time adding one new instance per round; the previous round's is removed (untimed), so the
    service keeps its size."""
    added: list[Instance] = []
    fresh = iter(range(1 << 20, 1 << 24))

    def setup() -> tuple[tuple[Instance], dict[str, Any]]:
        if added:
            registry.remove_instance(NAMESPACE, SERVICE, added.pop().key, True)
        added.append(make_instance(next(fresh)))
        return (added[-1],), {}

    def add(instance: Instance) -> object:
        return registry.put_instance(NAMESPACE, SERVICE, instance, None)

    benchmark.pedantic(add, setup=setup, rounds=2_000)


def test_add_instance_100(benchmark: Benchmark) -> None:
    """A register of a new instance into a 100-instance service."""
    add_and_forget(benchmark, registry_with(100))


def test_add_instance_100k(benchmark: Benchmark, scale: float) -> None:
    """A register of a new instance into a 100,000-instance service: also one index bucket copied."""
    add_and_forget(benchmark, registry_with(sized(100_000, scale, minimum=300)))


def test_copy_10k_dict(benchmark: Benchmark, scale: float) -> None:
    """Reference: what copying a whole 10,000-instance service map would cost on every write."""
    instances = {inst.key: inst for inst in (make_instance(n) for n in range(sized(10_000, scale, 300)))}
    assert len(benchmark(instances.copy)) == len(instances)


def test_register_with_construction(benchmark: Benchmark) -> None:
    """Instance(...) from parsed parameters plus put_instance: the core's share of a register request."""
    registry = registry_with(100)
    state = [0]

    def register() -> object:
        state[0] ^= 1
        instance = Instance(
            "10.0.9.9",
            8080,
            metadata={"version": "1.0.0", "zone": "zone-1"},
            weight=1.0 + state[0],
            app="unknown",
        )
        return registry.put_instance(NAMESPACE, SERVICE, instance, None)

    assert benchmark(register) is not None


def test_set_healthy_100(benchmark: Benchmark) -> None:
    """Health flip of one instance (beat revival / timeout) in a 100-instance service."""
    registry = registry_with(100)
    key = make_instance(50).key
    state = [True]  # stored healthy: the first flip makes it unhealthy

    def flip() -> object:
        state[0] = not state[0]
        return registry.set_healthy(NAMESPACE, SERVICE, key, True, state[0])

    assert benchmark(flip) is not None


def test_cached_list_response(benchmark: Benchmark) -> None:
    """Target <= 1 µs: the hot read path of instance/list when the encoded answer is memoized."""
    registry = registry_with(100)
    service = registry.get(NAMESPACE, SERVICE)
    assert service is not None
    variant = ("", False, "java")
    service.cache(variant, b'{"hosts": []}')
    get = registry.get

    def read() -> object:
        snapshot = get(NAMESPACE, SERVICE)
        return snapshot.cached(variant) if snapshot is not None else None

    assert benchmark(read) == b'{"hosts": []}'


def test_instances_list_100(benchmark: Benchmark) -> None:
    """Materializing a 100-instance list (what a cache miss starts from)."""
    service = registry_with(100).get(NAMESPACE, SERVICE)
    assert service is not None
    assert len(benchmark(service.instances)) == 100


# --- digest ------------------------------------------------------------------------------------------


def digest_tables(count: int) -> tuple[DigestTable, DigestTable]:
    local, remote = DigestTable(), DigestTable()
    for n in range(count):
        key = f"public##DEFAULT_GROUP@@service-{n:06d}"
        local.set(key, n, n * 2_654_435_761)
        remote.set(key, n + (1 if n % 100 == 0 else 0), n * 2_654_435_761)
    return local, remote


def test_digest_diff_100k(benchmark: Benchmark, scale: float) -> None:
    """Target <= 20 ms: two 100,000-key tables, 1% of versions different."""
    count = sized(100_000, scale, minimum=1_000)
    local, remote = digest_tables(count)
    to_fetch, to_delete = benchmark(local.diff, remote)
    assert len(to_fetch) == count // 100
    assert to_delete == []


def test_digest_encode_100k(benchmark: Benchmark, scale: float) -> None:
    local, _ = digest_tables(sized(100_000, scale, minimum=1_000))
    assert benchmark(local.encode)


def test_digest_decode_100k(benchmark: Benchmark, scale: float) -> None:
    local, _ = digest_tables(sized(100_000, scale, minimum=1_000))
    message = local.encode()
    assert len(benchmark(decode, message)) == len(local)
