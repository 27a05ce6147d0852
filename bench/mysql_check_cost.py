"""Cost of one MySQL health check: nacosfast's own protocol on a Trio socket vs. PyMySQL in a thread.

Starts a MariaDB server (Debian's ``mariadb-server``, as the tests do), then runs ``--checks`` checks
``--concurrency`` at a time each way (login + Nacos's read-only query + quit) and prints the process
CPU per check and how late a 1 ms ticker task wakes meanwhile (the event loop's responsiveness).
PyMySQL is not a nacosfast dependency: run this with an interpreter that has it, e.g.

    python -m venv /tmp/pm && /tmp/pm/bin/pip install pymysql trio && \\
    PYTHONPATH=. /tmp/pm/bin/python bench/mysql_check_cost.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import trio

from nacosfast.naming.healthcheck import Check
from nacosfast.server.checker import probe_mysql
from nacosfast.wire.mysql import READ_ONLY_QUERY
from tests.check_targets import CHECK_PASSWORD, CHECK_USER, mariadb


def pymysql_check(port: int) -> bool:
    import pymysql  # type: ignore[import-untyped,import-not-found,unused-ignore]

    connection = pymysql.connect(
        host="127.0.0.1",
        port=port,
        user=CHECK_USER,
        password=CHECK_PASSWORD,
        connect_timeout=1,
        read_timeout=1,
        ssl_disabled=True,  # else PyMySQL 2 loads the CA store on every connect (~80 ms)
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(READ_ONLY_QUERY)
            row = cursor.fetchone()
            return row is not None and row[1] != "ON"
    finally:
        connection.close()


async def measure(
    run_one: Callable[[], Awaitable[object]], checks: int, concurrency: int
) -> tuple[float, float]:
    """(CPU µs per check, p99 ticker lateness ms)."""
    lateness: list[float] = []
    done = trio.Event()

    async def ticker() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await trio.sleep(0.001)
            lateness.append((time.perf_counter() - start - 0.001) * 1000)

    remaining = [checks]

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            await run_one()

    cpu = time.process_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        async with trio.open_nursery() as workers:
            for _ in range(concurrency):
                workers.start_soon(worker)
        done.set()
    cpu = time.process_time() - cpu
    return cpu / checks * 1e6, statistics.quantiles(lateness, n=100)[98]


async def amain(port: int, checks: int, concurrency: int) -> None:
    check = Check(1, "MYSQL", "127.0.0.1", port, 1_500, {"user": CHECK_USER, "pwd": CHECK_PASSWORD})
    limiter = trio.CapacityLimiter(concurrency)

    async def own() -> object:
        return await probe_mysql(check)

    async def threaded() -> object:
        return await trio.to_thread.run_sync(pymysql_check, port, limiter=limiter)

    for name, run_one in (("own protocol (Trio socket)", own), ("PyMySQL in trio.to_thread", threaded)):
        await run_one()  # warm up
        cpu_us, late_ms = await measure(run_one, checks, concurrency)
        print(f"{name:28s} {cpu_us:7.0f} µs CPU per check, ticker p99 late {late_ms:6.2f} ms")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checks", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as base, mariadb(Path(base)) as server:
        version = server.sql("SELECT VERSION()").strip()
        print(f"# {args.checks} checks, {args.concurrency} at a time, MariaDB {version}")
        trio.run(amain, server.port, args.checks, args.concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
