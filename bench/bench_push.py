"""Change → UDP packet latency to N subscribers of one service (target: p99 ≤ 100 ms at N = 1,000).

Two modes:

* in-process (default): this process runs ``PushHub`` + ``PushServer`` (the real push path) with a
  renderer shaped like ``naming.render`` (cached bytes around a wall-clock ``lastRefTime``); a change
  is ``hub.service_changed``, which the application calls right before it answers ``ok``.
* ``--http HOST:PORT``: against a running nacosfast (or Nacos) server. Subscribers poll
  ``instance/list`` with ``udpPort`` as the Node client does (and re-poll to stay alive); a change is a
  ``POST /nacos/v1/ns/instance`` and latency counts from its ``ok``.

Change k adds an instance with port 20000+k, so a packet carries change k once its largest host port
reaches 20000+k. Receivers run in a child process (pinned to the other core when there is one), ack
every packet like the Java client; arrivals carry the kernel's receive timestamp (wall clock), which
is compared with ``time.time_ns()`` taken at the change.

    .venv/bin/python bench/bench_push.py --subscribers 1000 --changes 50
    .venv/bin/python bench/bench_push.py --http 127.0.0.1:8848 --subscribers 1000
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: nacosfast

from push_receivers import Arrival, Receivers

from nacosfast.naming.push import PushConfig, PushHub
from nacosfast.server.udp import PushServer, now_ms

NAMESPACE = "public"
SERVICE = "DEFAULT_GROUP@@bench-push"
AGENT = "Nacos-Java-Client:v1.0.0"
BASE_PORT = 20_000
KEEPALIVE_S = 4.0
"""Re-poll period of the subscribers (the zombie window is 10 s)."""


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {cpu})


class ListRenderer:
    """An ``instance/list`` body of ``hosts`` instances whose largest port is 20000 + the change."""

    def __init__(self, hosts: int) -> None:
        self.hosts = hosts
        self.change = -1
        self._parts: tuple[int, bytes, bytes] | None = None

    def __call__(self, namespace: str, service: str, clusters: str, agent: str, client_ip: str) -> bytes:
        parts = self._parts
        if parts is None or parts[0] != self.change:
            ports = [BASE_PORT + self.change - i for i in range(self.hosts)]
            hosts = [
                {
                    "instanceId": f"10.9.0.1#{port}#DEFAULT#{service}",
                    "ip": "10.9.0.1",
                    "port": port,
                    "weight": 1.0,
                    "healthy": True,
                    "enabled": True,
                    "valid": True,
                    "marked": False,
                    "metadata": {"version": "1.0", "zone": "a"},
                    "clusterName": "DEFAULT",
                    "serviceName": service,
                    "ephemeral": True,
                }
                for port in ports
            ]
            head = json.dumps({"hosts": hosts, "dom": service, "name": service, "cacheMillis": 10000})
            before = (head[:-1] + ',"lastRefTime":').encode()
            after = b',"checksum":"0123456789abcdef0123456789abcdef","useSpecifiedURL":false,"clusters":"%b"}'
            parts = self._parts = (self.change, before, after % clusters.encode())
        return b"%b%d%b" % (parts[1], time.time_ns() // 1_000_000, parts[2])


async def _in_process(args: argparse.Namespace, ports: list[int]) -> tuple[list[int], dict[str, Any]]:
    render = ListRenderer(args.hosts)
    hub = PushHub(render, PushConfig(coalesce_ms=args.coalesce_ms))
    server = PushServer(hub, "127.0.0.1", 0)
    changed_at: list[int] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        for port in ports:
            hub.subscribe(
                NAMESPACE, SERVICE, "", "127.0.0.1", port, AGENT, "", "", now_ms(), peer_ip="127.0.0.1"
            )
        await trio.sleep(0.2)
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        for change in range(args.changes):
            render.change = change
            changed_at.append(time.time_ns())
            hub.service_changed(NAMESPACE, SERVICE, now_ms())
            await trio.sleep(args.interval)
            for port in ports:
                hub.subscribe(
                    NAMESPACE, SERVICE, "", "127.0.0.1", port, AGENT, "", "", now_ms(), peer_ip="127.0.0.1"
                )
        await trio.sleep(0.5)
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        nursery.cancel_scope.cancel()
    used = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    info = dict(hub.counters())
    info["server_cpu_ms_per_change"] = round(1000 * used / max(1, args.changes), 2)
    return changed_at, info


class Http:
    """A keep-alive HTTP/1.1 connection to the server."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._conn = http.client.HTTPConnection(host, int(port), timeout=10)

    def call(self, method: str, path: str, params: dict[str, str]) -> bytes:
        url = f"{path}?{urllib.parse.urlencode(params)}"
        self._conn.request(method, url, headers={"User-Agent": AGENT, "Connection": "keep-alive"})
        response = self._conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path} -> {response.status} {body[:200]!r}")
        return body


def _http(args: argparse.Namespace, ports: list[int]) -> tuple[list[int], dict[str, Any]]:
    client = Http(args.http)
    list_params = {"namespaceId": NAMESPACE, "serviceName": SERVICE, "clusters": "", "healthyOnly": "false"}

    def poll(port: int) -> None:
        params = dict(list_params, udpPort=str(port), clientIP="127.0.0.1")
        client.call("GET", "/nacos/v1/ns/instance/list", params)

    def instance(method: str, port: int) -> bytes:
        params = {"namespaceId": NAMESPACE, "serviceName": SERVICE, "ip": "10.9.0.1", "port": str(port)}
        return client.call(method, "/nacos/v1/ns/instance", params)

    for port in ports:
        poll(port)
    last_poll = time.monotonic()
    changed_at: list[int] = []
    per_gap = max(1, int(len(ports) * args.interval / KEEPALIVE_S))
    cursor = 0
    try:
        for change in range(args.changes):
            started = time.monotonic()
            if instance("POST", BASE_PORT + change) != b"ok":
                raise RuntimeError("register did not answer ok")
            changed_at.append(time.time_ns())
            for _ in range(per_gap):  # keep every subscriber polling about every KEEPALIVE_S
                poll(ports[cursor % len(ports)])
                cursor += 1
            if time.monotonic() - last_poll > 9:
                raise RuntimeError("cannot keep subscribers alive: raise --interval")
            time.sleep(max(0.0, args.interval - (time.monotonic() - started)))
        time.sleep(0.5)
    finally:
        for change in range(len(changed_at)):
            instance("DELETE", BASE_PORT + change)
    return changed_at, {}


def _latencies(
    changed_at: list[int], arrivals: list[Arrival], ports: list[int]
) -> tuple[list[float], int, list[float]]:
    """Every (change, subscriber) latency in ms, how many never arrived, and each change's worst."""
    by_port: dict[int, list[Arrival]] = {port: [] for port in ports}
    for arrival in arrivals:
        by_port[arrival.port].append(arrival)
    latencies: list[float] = []
    worst = [0.0] * len(changed_at)
    missing = 0
    for port_arrivals in by_port.values():
        port_arrivals.sort(key=lambda a: a.at_ns)
        index = 0
        for change, at in enumerate(changed_at):
            while index < len(port_arrivals) and port_arrivals[index].max_host_port < BASE_PORT + change:
                index += 1
            if index == len(port_arrivals):
                missing += 1
                continue
            latency = (port_arrivals[index].at_ns - at) / 1e6
            latencies.append(latency)
            worst[change] = max(worst[change], latency)
    return latencies, missing, worst


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print latency percentiles; exit 1 when p99 misses the target."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=1_000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between changes")
    parser.add_argument("--hosts", type=int, default=10, help="instances in the pushed list")
    parser.add_argument("--coalesce-ms", type=int, default=50)
    parser.add_argument("--http", metavar="HOST:PORT", help="measure against a running server")
    parser.add_argument("--target-ms", type=float, default=100.0)
    args = parser.parse_args(argv)

    with Receivers(args.subscribers, cpu=1) as receivers:
        if args.http:  # the server process is pinned by whoever started it
            changed_at, info = _http(args, receivers.ports)
        else:
            _pin(0)
            changed_at, info = trio.run(_in_process, args, receivers.ports)
        totals, arrivals = receivers.stop()
    latencies, missing, worst = _latencies(changed_at, arrivals, receivers.ports)
    mode = f"http {args.http}" if args.http else "in-process"
    print(f"mode: {mode}; {args.subscribers} subscribers, {args.changes} changes, {args.hosts} hosts/list")
    print(f"receivers: {totals}")
    if info:
        keys = ("total", "sent", "acked", "retried", "failed", "superseded", "server_cpu_ms_per_change")
        print("server: " + ", ".join(f"{key}={info[key]}" for key in keys))
    if not latencies:
        print("no packet arrived")
        return 1
    p50, p90, p99 = (_percentile(latencies, f) for f in (0.5, 0.9, 0.99))
    print(
        f"change → packet ms: p50 {p50:.1f}  p90 {p90:.1f}  p99 {p99:.1f}  max {max(latencies):.1f}"
        f"  (missing {missing} of {len(changed_at) * args.subscribers})"
    )
    slow = [f"#{change}: {ms:.0f}" for change, ms in enumerate(worst) if ms > args.target_ms]
    if slow:
        print(f"changes whose slowest packet missed the target (ms): {', '.join(slow)}")
    ok = p99 <= args.target_ms and missing == 0
    print(f"target p99 ≤ {args.target_ms:.0f} ms: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
