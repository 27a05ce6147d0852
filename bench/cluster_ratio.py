"""Registration throughput of one node of a 3-node cluster, as a ratio to the same node standalone.

    .venv/bin/python bench/cluster_ratio.py [-n 20000] [-c 64] [--runs 3]

One run starts a standalone node and a 3-node cluster (loopback, a fresh secret, fresh data
directories) and drives ``bench/load.py register`` at the standalone node and at the first cluster
node alternately, ``--runs`` times each. In the cluster about two thirds of the services belong to the
other two nodes, so two thirds of the registrations are forwarded (batched per owner). It prints the
median registrations/s of each, their ratio, and the server CPU per registration: the entry node's,
and the whole cluster's (all three processes, from ``/proc/<pid>/stat``). Every process it starts, it
stops. The load generator shares the machine: pin with ``taskset`` for stable figures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def start(port: int, data: Path, extra: list[str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "nacosfast", "server", "--port", str(port), "--data-dir", str(data)]
    command += ["--log-level", "WARNING", "--push-port", "0", *extra]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/nacos/v1/ns/operator/servers", timeout=1
            ) as r:
                servers = json.loads(r.read())["servers"]
                if all(server["state"] == "UP" for server in servers):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not become ready")


def register(
    port: int, instances: int, connections: int, prefix: str, pids: list[int]
) -> tuple[float, float, float]:
    """(registrations/s, entry-node CPU µs per registration, all-nodes CPU µs per registration)."""
    before = [cpu_seconds(pid) for pid in pids]
    with tempfile.NamedTemporaryFile(suffix=".json") as figures:
        subprocess.run(
            [
                sys.executable,
                str(HERE / "load.py"),
                "register",
                "--url",
                f"http://127.0.0.1:{port}",
                "-n",
                str(instances),
                "-s",
                str(max(1, instances // 100)),
                "-c",
                str(connections),
                "--prefix",
                prefix,
                "--json",
                figures.name,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        values = json.loads(Path(figures.name).read_text())
    used = [cpu_seconds(pid) - start_cpu for pid, start_cpu in zip(pids, before, strict=True)]
    rate = float(values["registrations_per_s"])
    return rate, used[0] / instances * 1e6, sum(used) / instances * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--instances", type=int, default=20_000)
    parser.add_argument("-c", "--connections", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nacosfast-cluster-bench-"))
    secret = work / "secret"
    secret.write_bytes(os.urandom(32))
    solo_port = free_port()
    ports = [free_port() for _ in range(3)]
    members = ",".join(f"127.0.0.1:{port}" for port in ports)
    processes = [start(solo_port, work / "solo", [])]
    try:
        for port in ports:
            processes.append(
                start(port, work / f"n{port}", ["--members", members, "--cluster-secret-file", str(secret)])
            )
        for port in [solo_port, *ports]:
            wait_ready(port)
        solo_pid = processes[0].pid
        cluster_pids = [process.pid for process in processes[1:]]
        solo, cluster = [], []
        for run in range(args.runs):
            solo.append(register(solo_port, args.instances, args.connections, f"s{run}-", [solo_pid]))
            cluster.append(register(ports[0], args.instances, args.connections, f"c{run}-", cluster_pids))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)
    solo_rate = statistics.median(figure[0] for figure in solo)
    cluster_rate = statistics.median(figure[0] for figure in cluster)
    solo_cpu = statistics.median(figure[1] for figure in solo)
    entry_cpu = statistics.median(figure[1] for figure in cluster)
    total_cpu = statistics.median(figure[2] for figure in cluster)
    print(f"registrations, {args.instances} per run, {args.connections} connections, median of {args.runs}")
    print(f"standalone     {solo_rate:7.0f}/s  server CPU {solo_cpu:6.1f} µs/registration")
    print(
        f"cluster entry  {cluster_rate:7.0f}/s  entry CPU  {entry_cpu:6.1f} µs, "
        f"all 3 nodes {total_cpu:6.1f} µs"
    )
    print(f"ratio cluster/standalone {cluster_rate / solo_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
