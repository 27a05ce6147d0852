"""Server CPU per light beat on one member of a 3-node loopback cluster, with and without the compiled path.

    .venv/bin/python bench/cluster_beats.py [--duration 10s] [--runs 3] [--connections 64]

Two 3-node clusters run side by side: one as shipped, one with ``--no-fast-path`` on every node (the
Python path: what every cluster member ran before the compiled path learned ownership). Each has 64
instances of a service its first node owns and 64 of a service another node owns (registered through
the first node: forwarded to the owner, replicated back by Distro). ``wrk`` (bench/wrk/beat.lua) then
beats one service's instances on the first node, alternating between the clusters, ``--runs`` times per
scenario; it prints the median requests/s and the first node's CPU µs per beat (from
``/proc/<pid>/stat``), and for beats of the other node's service, the whole cluster's too (the owner
applies each relayed beat). Every process it starts, it stops. The machine is shared: read CPU µs per
beat, not requests/s. ``--server-core``/``--wrk-core`` pin the measured node and wrk (default 0 and 1).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cluster_ratio import cpu_seconds, free_port, start, wait_ready

from nacosfast.cluster.members import owner_among, service_key

HERE = Path(__file__).resolve().parent
INSTANCES = 64
"""Instances per service, as bench/wrk/beat.lua names them: 10.0.<i/250>.<i%250+1>:8080."""
READY_TIMEOUT_S = 30.0


@dataclass
class Cluster:
    """Three member processes; ``ports[0]`` is the node measured."""

    label: str
    ports: list[int]
    processes: list[subprocess.Popen[bytes]]

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(sorted(f"127.0.0.1:{port}" for port in self.ports))

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]


def start_cluster(label: str, work: Path, extra: list[str]) -> Cluster:
    secret = work / f"{label}.secret"
    secret.write_bytes(os.urandom(32))
    ports = [free_port() for _ in range(3)]
    members = ",".join(f"127.0.0.1:{port}" for port in ports)
    options = ["--members", members, "--cluster-secret-file", str(secret), *extra]
    processes = [start(port, work / f"{label}-{port}", options) for port in ports]
    for port in ports:
        wait_ready(port)
    return Cluster(label, ports, processes)


def owned_service(cluster: Cluster, owner_port: int, prefix: str) -> str:
    """A service name (in ``DEFAULT_GROUP``) that the node on ``owner_port`` owns."""
    owner = f"127.0.0.1:{owner_port}"
    for index in range(10_000):
        name = f"{prefix}{index}"
        if owner_among(cluster.addresses, service_key("public", f"DEFAULT_GROUP@@{name}")) == owner:
            return name
    raise SystemExit("no service name for that owner")


def request(port: int, method: str, path: str) -> bytes:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:  # a node still warming up answers 503: try again
        try:
            with urllib.request.urlopen(
                urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method), timeout=5
            ) as answer:
                body: bytes = answer.read()
                return body
        except urllib.error.HTTPError as error:
            if error.code != 503 or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def register(port: int, service: str) -> None:
    """(Re-)register the instances bench/wrk/beat.lua beats (ephemeral ones expire without beats),
    through ``port``, and wait until that node lists them all (a forwarded write comes back by Distro)."""
    for i in range(INSTANCES):
        ip = f"10.0.{i // 250}.{i % 250 + 1}"
        query = f"serviceName=DEFAULT_GROUP%40%40{service}&ip={ip}&port=8080&ephemeral=true"
        assert request(port, "POST", f"/nacos/v1/ns/instance?{query}") == b"ok"
    deadline = time.monotonic() + READY_TIMEOUT_S
    listing = f"/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40{service}&healthyOnly=true"
    while request(port, "GET", listing).count(b'"ip"') < INSTANCES:
        if time.monotonic() > deadline:
            raise SystemExit(f"{service}: not every instance listed on port {port}")
        time.sleep(0.1)


def beat(cluster: Cluster, service: str, args: argparse.Namespace) -> tuple[float, float, float]:
    """(beats/s, first node's CPU µs per beat, all nodes' CPU µs per beat) of one wrk run."""
    register(cluster.ports[0], service)
    pids = cluster.pids()
    before = [cpu_seconds(pid) for pid in pids]
    command = ["taskset", "-c", str(args.wrk_core), "wrk", "-t1", f"-c{args.connections}"]
    command += [
        f"-d{args.duration}",
        "-s",
        str(HERE / "wrk" / "beat.lua"),
        f"http://127.0.0.1:{cluster.ports[0]}",
    ]
    out = subprocess.run(
        [*command, "--", service, str(INSTANCES)], check=True, capture_output=True, text=True
    )
    used = [cpu_seconds(pid) - start_cpu for pid, start_cpu in zip(pids, before, strict=True)]
    found = re.search(r"(\d+) requests in", out.stdout)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    if found is None or rate is None or "Non-2xx" in out.stdout:
        raise SystemExit(f"unexpected wrk output:\n{out.stdout}")
    beats = int(found.group(1))
    return float(rate.group(1)), used[0] / beats * 1e6, sum(used) / beats * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("-c", "--connections", type=int, default=64)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--wrk-core", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nacosfast-cluster-beats-"))
    clusters: list[Cluster] = []
    try:
        clusters.append(start_cluster("compiled", work, []))
        clusters.append(start_cluster("python", work, ["--no-fast-path"]))
        for cluster in clusters:
            subprocess.run(
                ["taskset", "-a", "-p", "-c", str(args.server_core), str(cluster.pids()[0])],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        scenarios = {
            cluster.label: {
                "owned": owned_service(cluster, cluster.ports[0], "bench.owned."),
                "other's": owned_service(cluster, cluster.ports[1], "bench.other."),
            }
            for cluster in clusters
        }
        figures: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for _ in range(args.runs):
            for scenario in ("owned", "other's"):
                for cluster in clusters:
                    result = beat(cluster, scenarios[cluster.label][scenario], args)
                    figures.setdefault((scenario, cluster.label), []).append(result)
    finally:
        for cluster in clusters:
            for process in cluster.processes:
                process.terminate()
            for process in cluster.processes:
                process.wait(timeout=20)
    print(
        f"light beats on one member of a 3-node cluster, wrk -c{args.connections} -d{args.duration}, "
        f"median of {args.runs}; load average now {os.getloadavg()[0]:.2f}"
    )
    print(f"{'service':9} {'path':9} {'beats/s':>9} {'node CPU µs/beat':>17} {'cluster CPU µs/beat':>20}")
    for (scenario, label), results in figures.items():
        rate = statistics.median(result[0] for result in results)
        node = statistics.median(result[1] for result in results)
        total = statistics.median(result[2] for result in results)
        print(f"{scenario:9} {label:9} {rate:9.0f} {node:17.1f} {total:20.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
