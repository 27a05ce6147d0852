"""``bench/pcap_latency.py``: server-side latencies read from a capture, on pcap files built here."""

from __future__ import annotations

import importlib.util
import io
import struct
import sys
from types import ModuleType
from typing import Any, Final

import pytest

from tests.server_process import REPO_ROOT

SERVER_PORT: Final = 18848


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pcap_latency", REPO_ROOT / "bench" / "pcap_latency.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # NamedTuple needs its module registered
    spec.loader.exec_module(module)
    return module


pcap_latency = _load()


def _packet(source: int, destination: int, payload: bytes) -> bytes:
    """An Ethernet frame carrying IPv4 and TCP (20-byte headers) with ``payload``."""
    tcp = struct.pack(">HHIIBBHHH", source, destination, 0, 0, 5 << 4, 0x18, 65535, 0, 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, b"\x7f\0\0\1", b"\x7f\0\0\1")
    return b"\0" * 12 + b"\x08\x00" + ip + tcp


def _capture(records: list[tuple[float, bytes]], nano: bool = False) -> io.BytesIO:
    magic = pcap_latency.PCAP_MAGIC_NANO if nano else pcap_latency.PCAP_MAGIC_MICRO
    out = io.BytesIO()
    out.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, 1))
    scale = 1_000_000_000 if nano else 1_000_000
    for time_s, frame in records:
        ticks = round(time_s * scale)
        out.write(struct.pack("<IIII", ticks // scale, ticks % scale, len(frame), len(frame)))
        out.write(frame)
    out.seek(0)
    return out


def _summary(records: list[tuple[float, bytes]], skip_s: float = 0.0, nano: bool = False) -> Any:
    segments = pcap_latency.payload_segments(_capture(records, nano))
    return pcap_latency.request_latencies(segments, SERVER_PORT, skip_s)


@pytest.mark.parametrize("nano", [False, True])
def test_pairs_each_request_with_its_answer_per_connection(nano: bool) -> None:
    records = [
        (10.000, _packet(40001, SERVER_PORT, b"PUT /a")),
        (10.001, _packet(40002, SERVER_PORT, b"PUT /b")),
        (10.0015, _packet(SERVER_PORT, 40002, b"HTTP/1.1 200")),  # 0.5 ms
        (10.003, _packet(SERVER_PORT, 40001, b"HTTP/1.1 200")),  # 3 ms
        (10.004, _packet(40001, SERVER_PORT, b"")),  # a bare ACK carries no request
        (10.010, _packet(40001, SERVER_PORT, b"PUT /c")),
        (10.012, _packet(SERVER_PORT, 40001, b"HTTP/1.1 200")),  # 2 ms
    ]
    summary = _summary(records, nano=nano)
    assert summary.latencies_ms == pytest.approx([0.5, 2.0, 3.0], abs=1e-6)
    assert summary.unpaired == 0
    assert summary.percentile(0.5) == pytest.approx(2.0, abs=1e-6)
    assert summary.percentile(0.99) == pytest.approx(3.0, abs=1e-6)
    assert "requests 3" in summary.line()


def test_later_segments_of_one_message_are_skipped() -> None:
    records = [
        (1.000, _packet(40001, SERVER_PORT, b"POST /a part 1")),
        (1.002, _packet(40001, SERVER_PORT, b"part 2")),  # the same request: still timed from 1.000
        (1.005, _packet(SERVER_PORT, 40001, b"HTTP/1.1 200 part 1")),
        (1.006, _packet(SERVER_PORT, 40001, b"part 2")),  # the same answer: counted, not paired
    ]
    summary = _summary(records)
    assert summary.latencies_ms == pytest.approx([5.0], abs=1e-6)
    assert summary.unpaired == 1


def test_requests_in_the_skipped_start_are_left_out() -> None:
    records = [
        (5.0, _packet(40001, SERVER_PORT, b"GET /early")),
        (5.1, _packet(SERVER_PORT, 40001, b"HTTP/1.1 200")),
        (7.0, _packet(40001, SERVER_PORT, b"GET /late")),
        (7.001, _packet(SERVER_PORT, 40001, b"HTTP/1.1 200")),
    ]
    assert _summary(records, skip_s=1.0).latencies_ms == pytest.approx([1.0], abs=1e-6)


def test_other_ports_and_empty_captures() -> None:
    records = [
        (1.0, _packet(40001, 9999, b"GET /elsewhere")),
        (1.1, _packet(9999, 40001, b"HTTP/1.1 200")),
    ]
    summary = _summary(records)
    assert summary.latencies_ms == []
    assert summary.percentile(0.99) == 0.0
    assert summary.line().startswith("requests 0")


def test_refuses_what_is_not_a_classic_pcap() -> None:
    with pytest.raises(ValueError, match="magic"):
        list(pcap_latency.payload_segments(io.BytesIO(b"\x0a\x0d\x0d\x0a" + b"\0" * 20)))
    with pytest.raises(ValueError, match="too short"):
        list(pcap_latency.payload_segments(io.BytesIO(b"")))
