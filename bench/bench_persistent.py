"""Persistent register throughput into one service that already holds many persistent instances.

    .venv/bin/python bench/bench_persistent.py --instances 10000 --seconds 5 --writers 16
    .venv/bin/python -m pytest bench/bench_persistent.py --benchmark-disable   # smoke run

The naming application over a real ``AppendLog`` and ``Durability`` (as ``server.main`` wires them, no
HTTP): the service is loaded with ``--instances`` persistent instances (written as a snapshot), then
``--writers`` tasks re-register existing instances with a new weight and wait until each write is
durable. Reports registers/s, latency and the bytes each write adds to the log. The figure is the
encoder's cost per write: a whole-service record grows with the service, a per-instance record does
not. Data goes to a temporary directory (``--dir``: put it on the disk the server will use).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio
from bench_log import run_writers

from nacosfast._core.registry import Instance
from nacosfast.naming import journal
from nacosfast.naming.app import NamingApp
from nacosfast.naming.meta import ServiceMeta
from nacosfast.naming.state import NamingState
from nacosfast.server.clock import monotonic_ms
from nacosfast.server.durability import Durability
from nacosfast.store import AppendLog
from nacosfast.wire.message import Request

SERVICE = "DEFAULT_GROUP@@big"


def ip_of(index: int) -> str:
    return f"10.{index // 62_500}.{index // 250 % 250}.{index % 250}"


def loaded(data_dir: Path, instances: int) -> None:
    """Write a data directory whose snapshot holds one service of ``instances`` persistent instances."""
    state = NamingState(push=_NoPush(), journal=_NoJournal())
    state.registry.set_meta("public", SERVICE, ServiceMeta(persisted=True))
    metadata = {"zone": "a", "version": "1.0.0"}
    for index in range(instances):
        instance = Instance(ip_of(index), 8080, ephemeral=False, metadata=metadata, app="bench")
        state.registry.put_instance("public", SERVICE, instance, ServiceMeta(persisted=True))
    with AppendLog.open(data_dir) as log:
        log.write_snapshot(list(journal.snapshot(state)), 0)


class _NoPush:
    def service_changed(self, namespace: str, service: str, now_ms: int) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


class _NoJournal:
    def append(self, payload: bytes) -> int:
        raise AssertionError("the loader journals nothing")


def open_node(data_dir: Path) -> tuple[AppendLog, Durability, NamingApp]:
    """The application over the log, wired as ``server.main`` wires it."""
    log = AppendLog.open(data_dir)
    state = NamingState(push=_NoPush(), journal=_NoJournal())
    options: dict[str, Any] = {"snapshot_source": lambda: journal.snapshot(state)}
    if hasattr(journal, "settle"):  # releases with undo of refused writes
        options["on_durable"] = lambda through: journal.settle(state, through)
        options["on_refused"] = lambda through: journal.undo(state, through, monotonic_ms())
    durability = Durability(log, **options)
    state.journal = durability
    journal.replay(state, log.replay())
    return log, durability, NamingApp(state)


def register_request(index: int, weight: int) -> Request:
    query = f"serviceName={SERVICE}&ip={ip_of(index)}&port=8080&ephemeral=false&weight={weight}&app=bench"
    return Request(method="POST", path="/nacos/v1/ns/instance", query=query.encode())


def measure(data_dir: Path, *, instances: int, writers: int, seconds: float) -> dict[str, float]:
    loaded(data_dir, instances)
    log, durability, app = open_node(data_dir)
    latencies: list[float] = []
    log_bytes_before = log.log_bytes

    async def writer(number: int, deadline: float) -> None:
        index = number
        while trio.current_time() < deadline:
            started = trio.current_time()
            response = app.handle(register_request(index % instances, 2 + len(latencies) % 7), 0, 0)
            assert response.status == 200, response
            await durability.wait_durable(response.durable_seq)
            latencies.append(trio.current_time() - started)
            index += writers

    elapsed = run_writers(durability, writers, seconds, writer)
    written = log.log_bytes - log_bytes_before
    log.close()
    service_after = len(latencies)
    return {
        "instances": instances,
        "writers": writers,
        "registers": service_after,
        "registers_per_s": round(service_after / elapsed, 1),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else 0.0,
        "latency_p99_ms": round(sorted(latencies)[int(len(latencies) * 0.99)] * 1000, 2)
        if latencies
        else 0.0,
        "log_bytes_per_register": round(written / service_after) if service_after and written > 0 else 0,
        "fsyncs": log.fsyncs,
    }


def test_persistent_register_into_a_large_service(tmp_path: Path) -> None:
    """Smoke run (make test): a small service, a fraction of a second."""
    figures = measure(tmp_path / "data", instances=500, writers=4, seconds=0.2)
    assert figures["registers"] > 0


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--dir", default=None, help="parent of the temporary data directory")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as parent:
        figures = measure(
            Path(parent) / "data", instances=args.instances, writers=args.writers, seconds=args.seconds
        )
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
