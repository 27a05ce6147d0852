"""Server-side request latency read from a loopback packet capture (tcpdump ``-w``), not from the client.

A load generator's percentiles include its own queueing: wrk beating 1,024 connections from one
thread spends most of a core on its timers, and the answers it reads late count as server latency.
The capture sees each packet when the kernel passes it between the two sockets, so for every request
it gives the time from the request's first byte reaching the server's socket to the answer's first
byte leaving it: the server's queueing, parsing, handling and sending, nothing of the client's.

Pairing assumes one request in flight per connection (no pipelining), as ``bench/wrk/beat_fleet.lua``
sends: per connection, the first payload segment towards the server after an answer starts a request,
the first payload segment back ends it; further segments of either message are skipped.

    python bench/pcap_latency.py capture.pcap 18848 [--skip-seconds 1]

Standard library only; reads classic pcap (micro- or nanosecond) with Ethernet (``-i lo``) or Linux
cooked (``-i any``) link headers, IPv4 only.
"""

from __future__ import annotations

import argparse
import struct
from collections.abc import Iterator, Sequence
from typing import BinaryIO, Final, NamedTuple

PCAP_MAGIC_MICRO: Final = 0xA1B2C3D4
PCAP_MAGIC_NANO: Final = 0xA1B23C4D
LINK_HEADER_BYTES: Final = {1: 14, 113: 16, 276: 20}
"""Bytes before the IP header by pcap link type: Ethernet, Linux cooked v1, Linux cooked v2."""
PERCENTILES: Final = (0.5, 0.9, 0.99, 0.999)


class Segment(NamedTuple):
    """One TCP segment that carries payload: when, from which port, to which port."""

    time_s: float
    source_port: int
    destination_port: int


class LatencySummary(NamedTuple):
    """Request latencies in ms, sorted, and how many answers had no request to pair with."""

    latencies_ms: list[float]
    unpaired: int

    def percentile(self, fraction: float) -> float:
        """The nearest-rank percentile (``fraction`` 0..1) in ms; 0.0 with no samples."""
        if not self.latencies_ms:
            return 0.0
        index = min(len(self.latencies_ms) - 1, int(fraction * len(self.latencies_ms)))
        return self.latencies_ms[index]

    def line(self) -> str:
        """One line: count, percentiles and max in ms."""
        parts = [f"requests {len(self.latencies_ms)}"]
        parts += [f"p{fraction * 100:g} {self.percentile(fraction):.3f}" for fraction in PERCENTILES]
        parts.append(f"max {self.latencies_ms[-1] if self.latencies_ms else 0.0:.3f} ms")
        if self.unpaired:
            parts.append(f"(answer segments with no open request: {self.unpaired})")
        return "  ".join(parts)


def payload_segments(stream: BinaryIO) -> Iterator[Segment]:
    """Every IPv4 TCP segment with payload in a classic pcap file, in capture order."""
    header = stream.read(24)
    if len(header) < 24:
        raise ValueError("not a pcap file: too short")
    magic = struct.unpack("<I", header[:4])[0]
    if magic not in (PCAP_MAGIC_MICRO, PCAP_MAGIC_NANO):
        raise ValueError(f"not a little-endian classic pcap file (magic {magic:#x})")
    scale = 1e9 if magic == PCAP_MAGIC_NANO else 1e6
    link = struct.unpack("<I", header[20:24])[0]
    if link not in LINK_HEADER_BYTES:
        raise ValueError(f"unsupported link type {link}")
    offset = LINK_HEADER_BYTES[link]
    while True:
        record = stream.read(16)
        if len(record) < 16:
            return
        seconds, fraction, captured, _ = struct.unpack("<IIII", record)
        packet = stream.read(captured)
        ip = packet[offset:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:  # IPv4 carrying TCP only
            continue
        ip_header = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        tcp = ip[ip_header:]
        if len(tcp) < 13:
            continue
        source, destination = struct.unpack(">HH", tcp[:4])
        if total - ip_header - (tcp[12] >> 4) * 4 > 0:
            yield Segment(seconds + fraction / scale, source, destination)


def request_latencies(segments: Iterator[Segment], server_port: int, skip_s: float = 0.0) -> LatencySummary:
    """Pair each connection's requests with its answers (see the module docstring).

    Requests that start within ``skip_s`` of the first segment are left out (the capture may begin
    mid-request).
    """
    started: dict[int, float] = {}  # client port -> arrival of its unanswered request
    latencies: list[float] = []
    unpaired = 0
    first: float | None = None
    for segment in segments:
        if first is None:
            first = segment.time_s
        if segment.destination_port == server_port:
            started.setdefault(segment.source_port, segment.time_s)
        elif segment.source_port == server_port:
            arrived = started.pop(segment.destination_port, None)
            if arrived is None:
                unpaired += 1  # the rest of an answer already paired, or a request before the capture
            elif arrived - first >= skip_s:
                latencies.append((segment.time_s - arrived) * 1000)
    latencies.sort()
    return LatencySummary(latencies, unpaired)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("capture", help="pcap file written by tcpdump -w")
    parser.add_argument("port", type=int, help="the server's TCP port")
    parser.add_argument(
        "--skip-seconds", type=float, default=1.0, help="leave out the capture's first seconds"
    )
    args = parser.parse_args(argv)
    with open(args.capture, "rb") as stream:
        print(request_latencies(payload_segments(stream), args.port, args.skip_seconds).line())


if __name__ == "__main__":
    main()
