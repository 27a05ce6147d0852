"""Resident memory per ephemeral instance: a Registry plus a BeatTable, as the naming app holds them.

    .venv/bin/python bench/memory_core.py [--services 10000] [--per-service 100]

Registers ``services × per-service`` ephemeral instances (distinct ip:port, two metadata keys drawn
from a handful of realistic values), each tracked in a ``BeatTable`` under the naming app's key
``(namespace, grouped name, datumKey)``, and prints the RSS growth per instance. Exits 1 when that is
above the target (memory is deterministic enough to check; times are not).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from nacosfast._core.beats import BeatTable
from nacosfast._core.registry import Instance, Registry

TARGET_BYTES_PER_INSTANCE = 600
NAMESPACE = "public"


def rss_bytes() -> int:
    """Current resident set size, from /proc (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def fill(registry: Registry, beats: BeatTable, services: int, per_service: int) -> None:
    """Register and track ``services × per_service`` instances the way the naming app does."""
    for s in range(services):
        name = f"DEFAULT_GROUP@@service-{s:05d}"
        for i in range(per_service):
            n = s * per_service + i
            instance = Instance(
                f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
                8000 + i,
                metadata={"version": f"1.{n % 4}.0", "zone": f"zone-{n % 3}"},
                app="unknown",
            )
            change = registry.put_instance(NAMESPACE, name, instance, None)
            assert change is not None
            service = change.service
            # The snapshot's namespace/name objects are shared by every instance of the service.
            beats.track((service.namespace, service.name, instance.key), 0, 15_000, 30_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--per-service", type=int, default=100)
    args = parser.parse_args(argv)
    total = args.services * args.per_service

    gc.collect()
    before = rss_bytes()
    registry = Registry()
    beats = BeatTable()
    fill(registry, beats, args.services, args.per_service)
    gc.collect()
    after = rss_bytes()

    assert registry.instance_count == total
    assert len(beats) == total
    per_instance = (after - before) / total
    verdict = "OK" if per_instance <= TARGET_BYTES_PER_INSTANCE else "OVER TARGET"
    start = time.perf_counter()
    gc.collect()
    full_gc_ms = (time.perf_counter() - start) * 1e3
    print(
        f"{total:,} ephemeral instances ({args.services:,} services x {args.per_service}): "
        f"RSS +{(after - before) / 2**20:,.1f} MiB = {per_instance:,.0f} bytes/instance "
        f"(target <= {TARGET_BYTES_PER_INSTANCE}) {verdict}; "
        f"full gc.collect() {full_gc_ms:,.1f} ms, {len(gc.get_objects()):,} GC-tracked objects"
    )
    return 0 if per_instance <= TARGET_BYTES_PER_INSTANCE else 1


if __name__ == "__main__":
    sys.exit(main())
