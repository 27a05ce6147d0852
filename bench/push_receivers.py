"""UDP push receivers for the push benchmarks: many sockets in one child process, acking like clients.

The child binds ``count`` UDP sockets on 127.0.0.1, reports their ports through a pipe, then reads
every packet with epoll. For each packet it records the arrival time, the receiving port, the
packet's ``lastRefTime`` and the largest ``hosts[].port`` in its data (the benchmarks encode "which
change" there), and acks it as the Java client does (``{"type":"push-ack","lastRefTime":"<N>",
"data":""}`` to the packet's source) unless the socket is one of the ``silent`` ones (a client that
never acks).

The arrival time is the kernel's receive timestamp (``SO_TIMESTAMPNS``, wall clock in ns), so the
receiver's own parsing never counts as latency: compare it with ``time.time_ns()`` in the sender.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import multiprocessing.connection
import os
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any

RECV_BYTES = 65_536
POLL_S = 0.02
SO_TIMESTAMPNS = 35
"""Linux ``SO_TIMESTAMPNS`` (= ``SCM_TIMESTAMPNS``); Python does not name it."""
TIMESPEC = struct.Struct("qq")


@dataclass(frozen=True, slots=True)
class Arrival:
    """One packet as a receiver saw it."""

    at_ns: int
    port: int
    seq: int
    max_host_port: int


def _max_host_port(packet: dict[str, Any]) -> int:
    data = json.loads(packet["data"])
    return max((int(host["port"]) for host in data.get("hosts", ())), default=-1)


def _child(
    conn: multiprocessing.connection.Connection, count: int, silent_every: int, cpu: int | None, keep: bool
) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    socks: dict[int, socket.socket] = {}
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        if sys.platform == "linux":
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        socks[sock.fileno()] = sock
    ports = [sock.getsockname()[1] for sock in socks.values()]
    silent = {port for index, port in enumerate(ports) if silent_every and index % silent_every == 0}
    conn.send(ports)
    poller = select.epoll()
    for fd in socks:
        poller.register(fd, select.EPOLLIN)
    arrivals: list[tuple[int, int, int, int]] = []
    packets = 0
    acks = 0
    errors = 0
    while True:
        if conn.poll():
            message = conn.recv()
            if message == "stop":
                break
            if message == "stats":
                conn.send({"packets": packets, "acks": acks, "errors": errors})
                continue
        for fd, _ in poller.poll(POLL_S):
            sock = socks[fd]
            port = sock.getsockname()[1]
            while True:
                try:
                    raw, ancillary, _, source = sock.recvmsg(RECV_BYTES, 64)
                except BlockingIOError:
                    break
                at = time.time_ns()
                for level, kind, data in ancillary:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        seconds, nanos = TIMESPEC.unpack_from(data)
                        at = seconds * 1_000_000_000 + nanos
                packets += 1
                try:
                    text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
                    packet = json.loads(text)
                    seq = int(packet["lastRefTime"])
                    if keep:
                        arrivals.append((at, port, seq, _max_host_port(packet)))
                except (ValueError, KeyError, OSError):
                    errors += 1
                    continue
                if port in silent:
                    continue
                ack = b'{"type":"push-ack","lastRefTime":"%d","data":""}' % seq
                try:
                    sock.sendto(ack, source)
                    acks += 1
                except OSError:
                    errors += 1
    conn.send({"packets": packets, "acks": acks, "errors": errors, "arrivals": arrivals})
    for sock in socks.values():
        sock.close()


class Receivers:
    """A child process with ``count`` acking UDP sockets; use as a context manager."""

    def __init__(self, count: int, *, silent_every: int = 0, cpu: int | None = None, keep: bool = True):
        parent, child = multiprocessing.Pipe()
        self._conn = parent
        self._process = multiprocessing.get_context("fork").Process(
            target=_child, args=(child, count, silent_every, cpu, keep), daemon=True
        )
        self.ports: list[int] = []

    def __enter__(self) -> Receivers:
        self._process.start()
        self.ports = self._conn.recv()
        return self

    def stats(self) -> dict[str, int]:
        """Packets, acks and errors so far."""
        self._conn.send("stats")
        stats: dict[str, int] = self._conn.recv()
        return stats

    def stop(self) -> tuple[dict[str, int], list[Arrival]]:
        """Stop the child; its totals and (when kept) every arrival."""
        self._conn.send("stop")
        result: dict[str, Any] = self._conn.recv()
        arrivals = [Arrival(*row) for row in result.pop("arrivals")]
        self._process.join(5)
        return result, arrivals

    def __exit__(self, *exc: object) -> None:
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
