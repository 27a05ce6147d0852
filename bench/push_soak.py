"""Push soak: many subscribers and services under a steady change rate; queues and memory must stay flat.

Defaults follow issue #4: 10,000 subscribers across 1,000 services (1,000 receiver sockets, each
subscribed to 10 services, as one Java client subscribes to several services from one UDP port),
200 changes/s to random services, 5 minutes. One receiver in ``--silent-every`` never acks (a client
that went away), so resends and give-ups run all the time too. Subscribers re-poll every 5 s.

Every ``--sample`` seconds it prints the hub's table sizes, its counters, this process's RSS and the
change generator's worst lateness (how long the event loop was held). At the end it compares the
last third of the run with the first third (after warm-up) and exits 1 if anything grew.

    .venv/bin/python bench/push_soak.py --duration 30      # while developing
    .venv/bin/python bench/push_soak.py                    # the 5-minute target
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: nacosfast

from push_receivers import Receivers

from nacosfast.naming.push import PushConfig, PushHub
from nacosfast.server.udp import PushServer, now_ms

NAMESPACE = "public"
AGENT = "Nacos-Java-Client:v1.4.8"
KEEPALIVE_S = 5.0
GROWTH_SLACK = 1.10
"""A table may be this much larger at the end than at the start before it counts as growth."""
RSS_SLACK_KB = 8 * 1024
"""RSS may wander this much (allocator noise) before it counts as growth."""


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class SoakRenderer:
    """Per-service list bodies that change with a per-service version (like a snapshot revision)."""

    def __init__(self, hosts: int) -> None:
        self.hosts = hosts
        self.version: dict[str, int] = {}
        self._cache: dict[str, tuple[int, bytes, bytes]] = {}

    def __call__(self, namespace: str, service: str, clusters: str, agent: str, client_ip: str) -> bytes:
        version = self.version.get(service, 0)
        cached = self._cache.get(service)
        if cached is None or cached[0] != version:
            hosts = [
                {
                    "instanceId": f"10.8.{i}.1#8080#DEFAULT#{service}",
                    "ip": f"10.8.{i}.1",
                    "port": 8080,
                    "weight": 1.0,
                    "healthy": (version + i) % 3 != 0,
                    "enabled": True,
                    "valid": True,
                    "marked": False,
                    "metadata": {"version": str(version)},
                    "clusterName": "DEFAULT",
                    "serviceName": service,
                    "ephemeral": True,
                }
                for i in range(self.hosts)
            ]
            head = json.dumps({"hosts": hosts, "dom": service, "name": service, "cacheMillis": 10000})
            cached = (version, (head[:-1] + ',"lastRefTime":').encode(), b',"clusters":""}')
            self._cache[service] = cached
        return b"%b%d%b" % (cached[1], time.time_ns() // 1_000_000, cached[2])


async def _soak(args: argparse.Namespace, receivers: Receivers) -> list[dict[str, Any]]:
    services = [f"DEFAULT_GROUP@@soak-{i:04d}" for i in range(args.services)]
    per_socket = max(1, args.subscribers // len(receivers.ports))
    stride = max(1, args.services // per_socket)
    subscriptions = [
        (services[(index + stride * j) % len(services)], port)
        for index, port in enumerate(receivers.ports)
        for j in range(per_socket)
    ]
    render = SoakRenderer(args.hosts)
    hub = PushHub(render, PushConfig(coalesce_ms=args.coalesce_ms))
    server = PushServer(hub, "127.0.0.1", 0)
    rng = random.Random(args.seed)
    samples: list[dict[str, Any]] = []
    lateness = 0.0

    def poll(first: int, count: int) -> None:
        now = now_ms()
        for index in range(first, first + count):
            service, port = subscriptions[index % len(subscriptions)]
            hub.subscribe(
                NAMESPACE, service, "", "127.0.0.1", port, AGENT, "soak", "", now, peer_ip="127.0.0.1"
            )

    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        poll(0, len(subscriptions))
        start = trio.current_time()
        next_change = start
        next_sample = start + args.sample
        period = 1.0 / args.rate
        # Each subscriber polls every KEEPALIVE_S, spread evenly over the change ticks.
        polls_per_tick = max(1, round(len(subscriptions) * period / KEEPALIVE_S))
        cursor = 0
        while trio.current_time() - start < args.duration:
            await trio.sleep_until(next_change)
            now = trio.current_time()
            lateness = max(lateness, now - next_change)
            service = rng.choice(services)
            render.version[service] = render.version.get(service, 0) + 1
            hub.service_changed(NAMESPACE, service, now_ms())
            next_change += period
            poll(cursor, polls_per_tick)
            cursor += polls_per_tick
            if now >= next_sample:
                counters = hub.counters()
                received = (await trio.to_thread.run_sync(receivers.stats))["packets"]
                sample = {
                    "t": round(now - start),
                    **hub.debug_sizes(),
                    "rss_kb": _rss_kb(),
                    "late_ms": round(lateness * 1000, 1),
                    **{key: counters[key] for key in ("total", "acked", "failed", "superseded", "dropped")},
                    "received": received,
                }
                lateness = 0.0
                samples.append(sample)
                print(json.dumps(sample), flush=True)
                next_sample += args.sample
        nursery.cancel_scope.cancel()
    return samples


def _verdict(samples: list[dict[str, Any]], warm_up_s: float) -> bool:
    samples = [sample for sample in samples if sample["t"] >= warm_up_s]
    third = max(1, len(samples) // 3)
    if len(samples) < 3:
        print("too few samples after the warm-up to judge growth: run longer")
        return False
    first, last = samples[:third], samples[-third:]
    ok = True
    # Settled packets leave stale heap entries that are compacted in bulk: a sawtooth whose designed
    # ceiling is 2 × packets in flight + 1024, judged against that ceiling rather than by growth.
    worst = max(sample["timers"] - 2 * sample["acks"] - 1024 for sample in samples)
    print(f"{'timers':>11}: worst excess over 2 x in-flight + 1024: {worst}{'  OVER' if worst > 0 else ''}")
    ok = worst <= 0
    for key in ("subscribers", "dirty", "acks", "unacked", "job"):
        before = max(sample[key] for sample in first)
        after = max(sample[key] for sample in last)
        grew = after > before * GROWTH_SLACK + 16
        ok = ok and not grew
        print(f"{key:>11}: first third max {before:>7}, last third max {after:>7}{'  GREW' if grew else ''}")
    rss_before = max(sample["rss_kb"] for sample in first)
    rss_after = max(sample["rss_kb"] for sample in last)
    rss_grew = rss_after > rss_before + RSS_SLACK_KB
    flag = "  GREW" if rss_grew else ""
    print(f"{'rss_kb':>11}: first third max {rss_before:>7}, last third max {rss_after:>7}{flag}")
    return ok and not rss_grew


def main(argv: list[str] | None = None) -> int:
    """Run the soak; exit 1 if a queue, a table or the RSS grew."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=300.0, help="seconds (default 300)")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--services", type=int, default=1_000)
    parser.add_argument("--sockets", type=int, default=1_000, help="receiver sockets")
    parser.add_argument("--rate", type=float, default=200.0, help="changes per second")
    parser.add_argument("--hosts", type=int, default=5, help="instances per service")
    parser.add_argument("--silent-every", type=int, default=10, help="every n-th socket never acks")
    parser.add_argument("--coalesce-ms", type=int, default=50)
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument(
        "--warm-up", type=float, default=30.0, help="seconds before steady state (give-up 20 s + margin)"
    )
    args = parser.parse_args(argv)
    with Receivers(args.sockets, silent_every=args.silent_every, cpu=1, keep=False) as receivers:
        samples = trio.run(_soak, args, receivers)
        totals, _ = receivers.stop()
    print(f"receivers: {totals}")
    ok = _verdict(samples, args.warm_up)
    print(f"flat: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
