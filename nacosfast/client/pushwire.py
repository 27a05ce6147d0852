"""UDP push packets as the client reads and acks them (Nacos ``PushReceiver``), sans-I/O.

A packet is UTF-8 JSON ``{"type":"dom","data":"<list JSON as a string>","lastRefTime":N}``, gzipped
whole when the server found it large (detected by the magic bytes ``1f 8b``). Every packet that
parses is acked to its source exactly as the Java client does, quoting ``N`` back as a string:
``{"type": "push-ack", "lastRefTime":"N", "data":""}``; ``dump`` asks for the whole cache
(``dump-ack``), any other type gets ``unknown-ack``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from nacosfast.client.limits import MAX_ACK_BYTES, MAX_PUSH_DECOMPRESSED_BYTES

GZIP_MAGIC: Final = b"\x1f\x8b"
SERVICE_TYPES: Final = frozenset({"dom", "service"})


class PushDecodeError(ValueError):
    """A datagram that is not a push packet (or inflates past the bound)."""


@dataclass(frozen=True, slots=True)
class PushPacket:
    """One parsed push."""

    type: str
    data: str
    last_ref_time: str
    """Echoed back verbatim in the ack (a number in the packet, quoted in the ack)."""


def inflate(datagram: bytes, limit: int = MAX_PUSH_DECOMPRESSED_BYTES) -> bytes:
    """The packet's JSON bytes: gunzipped when it starts with the gzip magic; ``PushDecodeError`` if
    it is corrupt or would inflate past ``limit``."""
    if not datagram.startswith(GZIP_MAGIC):
        return datagram
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(datagram, limit + 1)
    except zlib.error as error:
        raise PushDecodeError(f"corrupt gzip push: {error}") from error
    if len(out) > limit or inflater.unconsumed_tail:
        raise PushDecodeError(f"push inflates past {limit} bytes")
    return out


def decode_push(datagram: bytes, limit: int = MAX_PUSH_DECOMPRESSED_BYTES) -> PushPacket:
    """Parse one datagram; ``PushDecodeError`` if it is not a push packet."""
    raw = inflate(datagram, limit)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise PushDecodeError("push is not JSON") from error
    if not isinstance(value, dict):
        raise PushDecodeError("push is not a JSON object")
    kind = value.get("type")
    data = value.get("data", "")
    stamp = value.get("lastRefTime")
    if not isinstance(kind, str) or not isinstance(data, str):
        raise PushDecodeError("push without a string 'type' and 'data'")
    if isinstance(stamp, bool) or not isinstance(stamp, int | str):
        raise PushDecodeError("push without 'lastRefTime'")
    return PushPacket(kind, data, str(stamp))


def _ack(kind: str, stamp: str, data: str) -> bytes:
    # The Java client's exact text (spaces included); the data is JSON-escaped.
    return (
        f'{{"type": "{kind}", "lastRefTime":"{stamp}", "data":{json.dumps(data, ensure_ascii=False)}}}'
    ).encode()


def ack_for(packet: PushPacket, dump: Callable[[], str]) -> bytes:
    """The ack for ``packet``: ``push-ack`` for service pushes, ``dump-ack`` carrying ``dump()`` (empty
    when it would not fit a datagram), ``unknown-ack`` otherwise. ``lastRefTime`` is echoed as the
    packet gave it; digits only reach the text, so the ack stays valid JSON."""
    stamp = packet.last_ref_time if packet.last_ref_time.lstrip("-").isdigit() else ""
    if packet.type in SERVICE_TYPES:
        return _ack("push-ack", stamp, "")
    if packet.type == "dump":
        ack = _ack("dump-ack", stamp, dump())
        return ack if len(ack) <= MAX_ACK_BYTES else _ack("dump-ack", stamp, "")
    return _ack("unknown-ack", stamp, "")
