"""Storage benchmarks: group commit under concurrent writers, snapshot and replay of 100,000 records.

    .venv/bin/python -m pytest bench/bench_log.py --benchmark-only    # pytest-benchmark figures
    .venv/bin/python -m pytest bench/bench_log.py --benchmark-disable # smoke run: each body once
    .venv/bin/python -m bench.bench_log --seconds 5 --writers 64      # a plain report (repo root)

Data goes to a temporary directory (``--dir`` for the script: put it on the disk the server will use;
fsync cost is the disk's, not Python's).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from nacosfast.server.durability import Durability
from nacosfast.store import AppendLog

SNAPSHOT_RECORDS = 100_000


def small_record(index: int) -> bytes:
    """About 110 bytes, shaped like a journal record of one small persistent service."""
    return json.dumps(
        {"t": "service", "ns": "public", "name": f"DEFAULT_GROUP@@svc-{index}", "instances": [], "v": 1},
        separators=(",", ":"),
    ).encode()


def run_writers(
    durability: Durability, writers: int, seconds: float, writer: Callable[[int, float], Awaitable[None]]
) -> float:
    """Run the flusher and ``writers`` tasks ``writer(number, deadline)`` for ``seconds``; the elapsed s."""

    async def main() -> float:
        async with trio.open_nursery() as nursery:
            await nursery.start(durability.run)
            started = trio.current_time()
            async with trio.open_nursery() as group:
                for number in range(writers):
                    group.start_soon(writer, number, started + seconds)
            elapsed = trio.current_time() - started
            nursery.cancel_scope.cancel()
        return elapsed

    return trio.run(main)


def group_commit(log: AppendLog, *, writers: int, seconds: float, per_writer: int) -> dict[str, float]:
    """``writers`` tasks append-and-wait until ``per_writer`` records each or ``seconds`` pass."""
    durability = Durability(log, snapshot_source=list)
    payload = small_record(0)
    latencies: list[float] = []
    fsyncs_before = log.fsyncs

    async def writer(number: int, deadline: float) -> None:
        for _ in range(per_writer):
            if trio.current_time() >= deadline:
                return
            started = trio.current_time()
            await durability.wait_durable(durability.append(payload))
            latencies.append(trio.current_time() - started)

    elapsed = run_writers(durability, writers, seconds, writer)
    fsyncs = log.fsyncs - fsyncs_before
    latencies.sort()
    return {
        "appends": len(latencies),
        "seconds": elapsed,
        "appends_per_s": len(latencies) / elapsed,
        "fsyncs_per_s": fsyncs / elapsed,
        "records_per_fsync": len(latencies) / max(fsyncs, 1),
        "ack_p50_ms": statistics.median(latencies) * 1000,
        "ack_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


# --- pytest-benchmark -----------------------------------------------------------------------------------


def test_append_buffers_a_record(benchmark: Any, tmp_path: Path) -> None:
    payload = small_record(1)
    with AppendLog.open(tmp_path) as log:

        def append_1000() -> None:
            for _ in range(1_000):
                log.append(payload)

        def flush_between_rounds() -> None:  # a setup must return None (or the round's arguments)
            log.flush()

        benchmark.pedantic(append_1000, setup=flush_between_rounds, rounds=20, iterations=1)
        benchmark.extra_info["records_per_round"] = 1_000


def test_group_commit_64_writers(benchmark: Any, tmp_path: Path) -> None:
    with AppendLog.open(tmp_path) as log:
        figures = benchmark.pedantic(
            group_commit, args=(log,), kwargs={"writers": 64, "seconds": 10.0, "per_writer": 20}, rounds=3
        )
        benchmark.extra_info.update(figures)
        assert figures["appends"] == 64 * 20
        assert figures["records_per_fsync"] > 1


def test_snapshot_of_100k_records(benchmark: Any, tmp_path: Path) -> None:
    payloads = [small_record(i) for i in range(SNAPSHOT_RECORDS)]
    with AppendLog.open(tmp_path) as log:
        benchmark.pedantic(log.write_snapshot, args=(payloads, 0), rounds=3)
        benchmark.extra_info["snapshot_bytes"] = os.path.getsize(tmp_path / "snapshot")


@pytest.mark.parametrize("source", ["snapshot", "log"])
def test_replay_of_100k_records(benchmark: Any, tmp_path: Path, source: str) -> None:
    payloads = [small_record(i) for i in range(SNAPSHOT_RECORDS)]
    with AppendLog.open(tmp_path) as log:
        if source == "snapshot":
            log.write_snapshot(payloads, 0)
        else:
            for payload in payloads:
                log.append(payload)
    with AppendLog.open(tmp_path) as log:
        count = benchmark.pedantic(lambda: sum(1 for _ in log.replay()), rounds=3)
        assert count == SNAPSHOT_RECORDS


# --- plain report ---------------------------------------------------------------------------------------


def report(data_dir: str, *, writers: int, seconds: float) -> None:
    """Print appends/s and fsyncs/s with group commit, then snapshot, open and replay times."""
    payloads = [small_record(i) for i in range(SNAPSHOT_RECORDS)]
    with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
        with AppendLog.open(tmp) as log:
            for count in (1, writers):
                figures = group_commit(log, writers=count, seconds=seconds, per_writer=sys.maxsize)
                print(
                    f"group commit, {count:3d} writers: {figures['appends_per_s']:9,.0f} appends/s  "
                    f"{figures['fsyncs_per_s']:7,.0f} fsyncs/s  "
                    f"{figures['records_per_fsync']:5.1f} records/fsync  "
                    f"ack p50 {figures['ack_p50_ms']:.2f} ms  p99 {figures['ack_p99_ms']:.2f} ms"
                )
            started = time.perf_counter()
            log.write_snapshot(payloads)
            snapshot_s = time.perf_counter() - started
            for payload in payloads:
                log.append(payload)
        size = os.path.getsize(os.path.join(tmp, "snapshot"))
        print(f"snapshot of {SNAPSHOT_RECORDS:,} records ({size / 1e6:.1f} MB): {snapshot_s * 1000:.0f} ms")
        started = time.perf_counter()
        with AppendLog.open(tmp) as log:
            opened_s = time.perf_counter() - started
            replayed = sum(1 for _ in log.replay())
            total_s = time.perf_counter() - started
        print(
            f"open (recovery scan of {SNAPSHOT_RECORDS:,} log records): {opened_s * 1000:.0f} ms; "
            f"open + replay of {replayed:,} records (snapshot + log): {total_s * 1000:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where to put the data directory")
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0, help="per group-commit measurement")
    args = parser.parse_args()
    report(args.dir, writers=args.writers, seconds=args.seconds)


if __name__ == "__main__":
    main()
