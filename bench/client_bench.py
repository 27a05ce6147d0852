"""Client SDK figures against a real server: push latency, cached reads, writes.

    .venv/bin/python bench/client_bench.py                      # starts its own server process
    .venv/bin/python bench/client_bench.py --server 127.0.0.1:8848 --changes 200

- push latency: another client registers an instance; time until the subscribed ``NamingClient``'s
  listener runs (from just before the register call to the listener, both in this process);
- cached reads: ``select_instances`` per second through the blocking client (one hop into its event
  loop per call) and through the async client directly;
- writes: ``register_instance`` round trips per second on one keep-alive connection.
"""

from __future__ import annotations

import argparse
import os
import queue
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import anyio

from nacosfast.client import AsyncNamingClient, NamingClient, ServiceChange

REPO = Path(__file__).resolve().parents[1]


def start_server(data_dir: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "nacosfast", "server", "--port", str(port), "--data-dir", data_dir]
    process = subprocess.Popen(
        [*command, "--log-level", "WARNING"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/nacos/v1/ns/operator/metrics", timeout=1).read()
            return process, f"127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit("the server did not start") from None
            time.sleep(0.05)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def push_latency(server: str, changes: int, cache: str) -> None:
    heard: queue.Queue[float] = queue.Queue()

    def listener(change: ServiceChange) -> None:
        heard.put(time.perf_counter())

    with (
        NamingClient(server, cache_dir=cache, push_host="127.0.0.1") as watcher,
        NamingClient(server, disk_cache=False, push=False) as writer,
    ):
        writer.register_instance("bench-push", "10.0.0.1", 1)
        watcher.subscribe("bench-push", listener)
        heard.get(timeout=10)
        latencies = []
        for number in range(changes):
            start = time.perf_counter()
            writer.register_instance("bench-push", f"10.1.{number // 250}.{number % 250}", 1)
            latencies.append((heard.get(timeout=15) - start) * 1000)
        polls = watcher.async_client.stats["polls"]
        print(
            f"push latency over {changes} changes: p50 {percentile(latencies, 0.5):.1f} ms, "
            f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms "
            f"(pushes acked {watcher.async_client.stats['pushes_acked']}, polls {polls})"
        )


def cached_reads(server: str, seconds: float, cache: str) -> None:
    with NamingClient(server, cache_dir=cache, push_host="127.0.0.1") as client:
        client.select_instances("bench-push")
        count, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            client.select_instances("bench-push")
            count += 1
        print(f"blocking select_instances from the cache: {count / seconds:,.0f}/s")

    async def direct() -> None:
        async with AsyncNamingClient(server, cache_dir=cache, push_host="127.0.0.1") as client:
            await client.select_instances("bench-push")
            count, end = 0, time.perf_counter() + seconds
            while time.perf_counter() < end:
                await client.select_instances("bench-push")
                count += 1
            print(f"async select_instances from the cache (trio): {count / seconds:,.0f}/s")

    anyio.run(direct, backend="trio")


def writes(server: str, count: int) -> None:
    with NamingClient(server, disk_cache=False, push=False) as client:
        for ephemeral, label in ((True, "ephemeral"), (False, "persistent, fsync'd by the server")):
            addresses = [f"10.2.{number // 250}.{number % 250}" for number in range(count)]
            start = time.perf_counter()
            for ip in addresses:
                client.register_instance("bench-write", ip, 1, ephemeral=ephemeral)
            rate = count / (time.perf_counter() - start)
            start = time.perf_counter()
            for ip in addresses:
                client.deregister_instance("bench-write", ip, 1, ephemeral=ephemeral)
            print(
                f"register_instance ({label}): {rate:,.0f}/s, "
                f"deregister_instance: {count / (time.perf_counter() - start):,.0f}/s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", help="host:port of a running server (default: start one)")
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--writes", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        process = None
        server = args.server
        if server is None:
            process, server = start_server(os.path.join(scratch, "data"))
        try:
            cache = os.path.join(scratch, "cache")
            push_latency(server, args.changes, cache)
            cached_reads(server, args.seconds, cache)
            writes(server, args.writes)
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=10)


if __name__ == "__main__":
    main()
