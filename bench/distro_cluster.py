"""Three real nacosfast processes on loopback: how fast registrations on one node are listed everywhere.

    .venv/bin/python bench/distro_cluster.py                 # 100,000 instances over 1,000 services
    .venv/bin/python bench/distro_cluster.py -n 20000 -s 200 --changes 50

1. Starts three ``nacosfast server`` cluster members (``--members``, a fresh secret, log level WARNING).
2. Turns health checks off on every node (switch entry ``check``: ``load.py register`` does not beat,
   and a run longer than 15 s would otherwise see its first instances expire), then registers N
   instances over S services on the first node with ``bench/load.py register`` (``--connections``
   keep-alive connections); writes for services the first node does not own are forwarded to their
   owners, as a client talking to one node would cause.
3. From the moment ``load.py`` exits (its last ``ok``), polls ``operator/metrics`` of all three nodes
   until each counts N instances, then checks that ``instance/list`` of every service is identical on
   the three (same hosts, same health): the convergence time.
4. One-change latency: registers one instance on a service's owner and polls ``instance/list`` of that
   service on the two other nodes over keep-alive connections until both show it, ``--changes`` times.

CPU placement is up to the caller (``taskset``); on a 2-core machine the three servers and the load
generator share the cores, so the figures are upper bounds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nacosfast.cluster.members import MemberTable, service_key

ROOT = Path(__file__).resolve().parent.parent
POLL_S = 0.01


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Node:
    """One server process and a keep-alive connection to it."""

    def __init__(self, port: int, members: str, secret: Path, data_dir: Path) -> None:
        self.port = port
        self.address = f"127.0.0.1:{port}"
        command = [
            sys.executable,
            "-m",
            "nacosfast",
            "server",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--log-level",
            "WARNING",
            "--no-push",
            "--members",
            members,
            "--cluster-secret-file",
            str(secret),
        ]
        self.process = subprocess.Popen(command, cwd=ROOT)
        self.connection: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, bytes]:
        for _attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                self.connection.request("GET", "/nacos/v1/ns" + path)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
        return 0, b""

    def put(self, path: str) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("PUT", "/nacos/v1/ns" + path)
            response = connection.getresponse()
            assert response.status == 200, response.read()
            response.read()
        finally:
            connection.close()

    def metrics(self) -> dict[str, Any]:
        status, body = self.get("/operator/metrics")
        return json.loads(body) if status == 200 else {}

    def hosts(self, name: str) -> list[tuple[str, int, bool]] | None:
        status, body = self.get(f"/instance/list?serviceName={name}")
        if status != 200:
            return None
        return sorted((h["ip"], h["port"], h["healthy"]) for h in json.loads(body)["hosts"])

    def stop(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait(condition: Callable[[], bool], limit_s: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > limit_s:
            raise SystemExit(f"timed out after {limit_s} s waiting for {what}")
        time.sleep(POLL_S)
    return time.monotonic() - start


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    p50 = statistics.median(ordered)
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms (n={len(ordered)})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--instances", type=int, default=100_000)
    parser.add_argument("-s", "--services", type=int, default=1_000)
    parser.add_argument("-c", "--connections", type=int, default=64)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--converge-limit", type=float, default=120.0, help="seconds to wait for convergence")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nacosfast-distro-"))
    secret = work / "secret"
    secret.write_bytes(secrets.token_bytes(32))
    os.chmod(secret, 0o600)
    ports = [free_port() for _ in range(3)]
    members = ",".join(f"127.0.0.1:{port}" for port in ports)
    nodes = [Node(port, members, secret, work / f"node{port}") for port in ports]
    try:
        wait(lambda: all(node.metrics().get("distroReady") for node in nodes), 60, "three ready nodes")
        for node in nodes:  # load.py does not beat: keep the owners from expiring what it registered
            node.put("/operator/switches?entry=check&value=false")  # Nacos names it "check"
            assert node.get("/operator/switches")[1].count(b'"healthCheckEnabled":false') == 1
        first = nodes[0]
        load = [
            sys.executable,
            str(ROOT / "bench" / "load.py"),
            "register",
            "--url",
            f"http://127.0.0.1:{first.port}",
            "-n",
            str(args.instances),
            "-s",
            str(args.services),
            "-c",
            str(args.connections),
            "--prefix",
            "distro",
        ]
        started = time.monotonic()
        subprocess.run(load, cwd=ROOT, check=True)
        last_ok = time.monotonic()
        print(f"registered {args.instances:,} instances on one node in {last_ok - started:.1f} s")
        try:
            counted = wait(
                lambda: all(node.metrics().get("instanceCount") == args.instances for node in nodes),
                args.converge_limit,
                "every node to count every instance",
            )
        except SystemExit:
            for node in nodes:
                figures = node.metrics()
                print(node.address, figures.get("instanceCount"), json.dumps(figures.get("distro")))
            raise
        print(f"every node counts {args.instances:,} instances {counted:.2f} s after the last ok")
        _, body = first.get(f"/service/list?pageNo=1&pageSize={args.services + 10}")
        names = list(json.loads(body)["doms"])
        differing = [name for name in names if len({repr(node.hosts(name)) for node in nodes}) != 1]
        same = len(names) - len(differing)
        print(f"instance/list identical on the three nodes for {same} of {len(names)} services")
        # one change at a time, to a service's owner, seen on the two other nodes
        addresses = [node.address for node in nodes]
        view = MemberTable(addresses[0], addresses, 0)
        owner_name = next(
            f"latency{index}"
            for index in range(10_000)
            if view.owner_of(service_key("public", f"DEFAULT_GROUP@@latency{index}")) == addresses[0]
        )
        latencies = []
        writer = http.client.HTTPConnection("127.0.0.1", first.port, timeout=10)
        for index in range(args.changes):
            query = f"serviceName={owner_name}&ip=10.9.{index >> 8}.{index & 255}&port=80"
            start = time.monotonic()
            writer.request("POST", f"/nacos/v1/ns/instance?{query}")
            assert writer.getresponse().read() == b"ok"
            expected = index + 1
            while not all(len(node.hosts(owner_name) or []) == expected for node in nodes[1:]):
                if time.monotonic() - start > 10:
                    raise SystemExit("a change did not reach the peers within 10 s")
            latencies.append((time.monotonic() - start) * 1000)
            time.sleep(0.2)  # isolated changes
        writer.close()
        print(f"one change on the owner to both other nodes (HTTP in, list polled): {percentiles(latencies)}")
    finally:
        for node in nodes:
            node.stop()


if __name__ == "__main__":
    main()
