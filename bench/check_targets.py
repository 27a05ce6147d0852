"""Local TCP listeners for the health-check load run: ``--count`` ports from ``--port`` on 127.0.0.1.

Each listener accepts and closes connections (what a server's TCP health check sees). Runs until
``--seconds`` have passed or SIGINT; prints how many connections it accepted.

    taskset -c 1 .venv/bin/python bench/check_targets.py --port 20000 --count 100 --seconds 120
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence

import trio

ACCEPT_BATCH = 256


async def serve(listener: socket.socket, counts: list[int]) -> None:
    while True:
        await trio.lowlevel.wait_readable(listener)
        for _ in range(ACCEPT_BATCH):
            try:
                connection, _ = listener.accept()
            except BlockingIOError:
                break
            counts[0] += 1
            connection.close()


async def amain(port: int, count: int, seconds: float) -> int:
    counts = [0]
    listeners = []
    for offset in range(count):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port + offset))
        listener.listen(1024)
        listener.setblocking(False)
        listeners.append(listener)
    with trio.move_on_after(seconds):
        async with trio.open_nursery() as nursery:
            for listener in listeners:
                nursery.start_soon(serve, listener, counts)
    for listener in listeners:
        listener.close()
    print(f"accepted {counts[0]} connections in {seconds:.0f} s on {count} ports from {port}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--port", type=int, default=20_000)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    return trio.run(amain, args.port, args.count, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
