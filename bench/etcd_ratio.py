"""Persistent registration through 3 nacosfast nodes on one etcd, against etcd's own put rate.

    .venv/bin/python bench/etcd_ratio.py [-n 3000] [-c 32] [--samples 200]

One run starts a one-member etcd (temporary data dir, loopback) and three nacosfast nodes with
``--etcd`` (not cluster members of each other: every persistent write goes straight to etcd), then:

1. etcd's own rate: ``-n`` plain puts of distinct keys through the JSON gateway, ``-c`` at a time
   (the client nacosfast uses, on keep-alive connections): what etcd itself sustains here;
2. nacosfast's rate: ``-n`` persistent registrations (``ephemeral=false``, distinct instances), ``-c``
   keep-alive connections spread over the three nodes; each ``ok`` means etcd committed it;
3. visibility: ``--samples`` times, one registration on node A, then node C's instance list polled
   every millisecond until it shows the instance: the time from ``ok`` to listed (p50, p99, max).

Prints the two rates, their ratio (what the naming layer costs on top of etcd) and the latencies.
Every process it starts, it stops. The machine is shared with the load generator.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import trio

from nacosfast.server.etcd_http import EtcdClient
from nacosfast.store.etcd_keys import b64

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_http(url: str, body: bytes | None = None) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, body), timeout=1) as answer:
                answer.read()
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not answer")


class Connection:
    """One keep-alive HTTP/1.1 connection to a nacosfast node (answers carry Content-Length)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def request(self, method: str, target: str) -> tuple[int, bytes]:
        await self.stream.send_all(
            f"{method} {target} HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\n".encode()
        )
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += await self.stream.receive_some(65536)
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += await self.stream.receive_some(65536)
        self.buffer = rest[length:]
        return int(head.split(b" ", 2)[1]), rest[:length]


def register_target(service: str, ip: str) -> str:
    return f"/nacos/v1/ns/instance?serviceName={service}&ip={ip}&port=80&ephemeral=false"


def ip_of(index: int) -> str:
    return f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"


async def etcd_puts(url: str, total: int, concurrency: int) -> tuple[float, float]:
    """Plain puts per second, and this process's CPU µs per put (the client's cost on the loop)."""
    client = EtcdClient((url,), max_connections=concurrency)
    queue = iter(range(total))

    async def worker() -> None:
        for index in queue:
            await client.call("/v3/kv/put", {"key": b64(f"/bench/{index}"), "value": b64(b"x" * 200)})

    began, cpu = time.perf_counter(), time.process_time()
    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    await client.aclose()
    return total / elapsed, cpu / total * 1e6


async def registrations(ports: list[int], total: int, concurrency: int) -> float:
    queue = iter(range(total))
    failures = 0

    async def worker(port: int) -> None:
        nonlocal failures
        connection = Connection(await trio.open_tcp_stream("127.0.0.1", port))
        for index in queue:
            status, _ = await connection.request("POST", register_target(f"svc{index % 50}", ip_of(index)))
            failures += status != 200

    began = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for slot in range(concurrency):
            nursery.start_soon(worker, ports[slot % len(ports)])
    elapsed = time.perf_counter() - began
    if failures:
        print(f"  {failures} registrations failed")
    return total / elapsed


async def visibility(writer: int, reader: int, samples: int) -> list[float]:
    write = Connection(await trio.open_tcp_stream("127.0.0.1", writer))
    read = Connection(await trio.open_tcp_stream("127.0.0.1", reader))
    latencies = []
    for index in range(samples):
        ip = ip_of(index)
        status, _ = await write.request("POST", register_target("visible", ip))
        assert status == 200
        acknowledged = time.perf_counter()
        with trio.fail_after(5):
            while True:
                _, body = await read.request("GET", "/nacos/v1/ns/instance/list?serviceName=visible")
                if any(host["ip"] == ip for host in json.loads(body)["hosts"]):
                    break
                await trio.sleep(0.001)
        latencies.append((time.perf_counter() - acknowledged) * 1000)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=3000, help="writes per phase")
    parser.add_argument("-c", type=int, default=32, help="concurrent writers")
    parser.add_argument("--samples", type=int, default=200, help="ok→listed samples")
    args = parser.parse_args()
    etcd = shutil.which("etcd")
    if etcd is None:
        raise SystemExit("etcd is not installed (apt-get install etcd-server)")
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as scratch:
        client_port, peer_port = free_port(), free_port()
        url = f"http://127.0.0.1:{client_port}"
        try:
            peer = f"http://127.0.0.1:{peer_port}"
            command = [etcd, f"--data-dir={scratch}/etcd", f"--listen-client-urls={url}"]
            command += [f"--advertise-client-urls={url}", f"--listen-peer-urls={peer}"]
            command += [f"--initial-advertise-peer-urls={peer}", f"--initial-cluster=default={peer}"]
            command += ["--log-level=error", "--logger=zap"]
            processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_http(url + "/v3/kv/range", json.dumps({"key": b64("x")}).encode())
            ports = [free_port() for _ in range(3)]
            for index, port in enumerate(ports):
                command = [sys.executable, "-m", "nacosfast", "server", "--port", str(port), "--etcd", url]
                command += ["--data-dir", f"{scratch}/node{index}", "--log-level", "WARNING", "--no-push"]
                processes.append(subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL))
            for port in ports:
                wait_http(f"http://127.0.0.1:{port}/nacos/v1/ns/operator/metrics")
            put_rate, client_cpu_us = trio.run(etcd_puts, url, args.n, args.c)
            register_rate = trio.run(registrations, ports, args.n, args.c)
            latencies = trio.run(visibility, ports[0], ports[2], args.samples)
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(10)
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"etcd plain puts (gateway, {args.c} at a time): {put_rate:,.0f}/s")
    print(f"  client CPU per put (this process, on the Trio loop): {client_cpu_us:.0f} µs")
    print(f"persistent registrations through 3 nodes:   {register_rate:,.0f}/s")
    print(f"ratio nacosfast/etcd: {register_rate / put_rate:.2f}")
    print(
        f"ok on node A → listed on node C ({args.samples} samples): p50 {quantiles[49]:.1f} ms, "
        f"p99 {quantiles[98]:.1f} ms, max {max(latencies):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
