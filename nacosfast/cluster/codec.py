"""The payloads of forwarding between peers: framed byte fields, requests, responses, relayed beats.

A payload is a flat sequence of byte fields, each a little-endian ``u32`` length and its bytes, after a
``u32`` field count. A forwarded request is 8 fields (method, path, query, the ``Content-Type``,
``User-Agent`` and ``Client-Version`` headers, the client's ``ip:port``, body); an answer 3 (status,
content type, body); a relayed beat 3 (namespace, grouped service name, datumKey). Decoding checks
every length against what is there, so a malformed payload is a ``ValueError``, never a crash.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Final

import zstandard

from nacosfast.limits import MAX_PEER_PAYLOAD_BYTES, PEER_ZSTD_LEVEL
from nacosfast.wire.message import Request, Response

__all__ = [
    "ZstdCodec",
    "decode_beats",
    "decode_requests",
    "decode_responses",
    "encode_beats",
    "encode_requests",
    "encode_responses",
    "pack_fields",
    "unpack_fields",
]

_U32: Final = struct.Struct("<I")
_REQUEST_FIELDS: Final = 8
_RESPONSE_FIELDS: Final = 3
_BEAT_FIELDS: Final = 3
_FORWARDED_HEADERS: Final = (b"content-type", b"user-agent", b"client-version")

Beat = tuple[str, str, str]
"""A relayed beat: (namespace, grouped service name, datumKey)."""


class ZstdCodec:
    """zstd for peer bodies (one per node: its contexts are reused, never shared between nodes).

    Every body is one frame that states its decompressed size; ``decompress`` refuses a frame that
    does not, or that states more than ``max_bytes`` (a decompression bomb stops before any work).
    """

    def __init__(self, level: int = PEER_ZSTD_LEVEL, max_bytes: int = MAX_PEER_PAYLOAD_BYTES) -> None:
        self._compressor = zstandard.ZstdCompressor(level=level, write_content_size=True)
        self._decompressor = zstandard.ZstdDecompressor()
        self.max_bytes = max_bytes

    def compress(self, payload: bytes) -> bytes:
        """One zstd frame holding ``payload``."""
        compressed: bytes = self._compressor.compress(payload)
        return compressed

    def decompress(self, body: bytes) -> bytes:
        """The payload of one frame made by ``compress``; ``ValueError`` if malformed or too large."""
        try:
            size = zstandard.frame_content_size(body)
        except zstandard.ZstdError as error:
            raise ValueError(f"peer body is not zstd: {error}") from None
        if size < 0:
            raise ValueError("peer body does not state its decompressed size")
        if size > self.max_bytes:
            raise ValueError(f"peer body decompresses to {size} bytes (at most {self.max_bytes})")
        try:
            payload: bytes = self._decompressor.decompress(body)
        except zstandard.ZstdError as error:
            raise ValueError(f"peer body is not valid zstd: {error}") from None
        if len(payload) != size:
            raise ValueError("peer body is not one whole zstd frame")
        return payload


def pack_fields(fields: Sequence[bytes]) -> bytes:
    """Frame ``fields`` as one payload."""
    pack = _U32.pack
    parts = [pack(len(fields))]
    for field in fields:
        parts.append(pack(len(field)))
        parts.append(field)
    return b"".join(parts)


def unpack_fields(payload: bytes) -> list[bytes]:
    """The fields of a payload made by ``pack_fields``; ``ValueError`` if it is malformed."""
    size = len(payload)
    if size < 4:
        raise ValueError("peer payload is truncated")
    (count,) = _U32.unpack_from(payload, 0)
    if count > (size - 4) // 4:
        raise ValueError("peer payload field count is larger than the payload")
    offset = 4
    fields: list[bytes] = []
    unpack = _U32.unpack_from
    for _ in range(count):
        if offset + 4 > size:
            raise ValueError("peer payload is truncated")
        (length,) = unpack(payload, offset)
        offset += 4
        end = offset + length
        if end > size:
            raise ValueError("peer payload is truncated")
        fields.append(payload[offset:end])
        offset = end
    if offset != size:
        raise ValueError("peer payload has trailing bytes")
    return fields


def _groups(fields: list[bytes], width: int) -> Iterable[list[bytes]]:
    if len(fields) % width:
        raise ValueError("peer payload does not hold whole records")
    for start in range(0, len(fields), width):
        yield fields[start : start + width]


def encode_requests(requests: Iterable[Request]) -> bytes:
    """Frame forwarded requests (the parts the naming application reads)."""
    fields: list[bytes] = []
    for request in requests:
        headers = request.headers
        host, port = request.remote
        fields += (
            request.method.encode(),
            request.path.encode(),
            request.query,
            *(headers.get(name, b"") for name in _FORWARDED_HEADERS),
            f"{host}:{port}".encode(),
            request.body,
        )
    return pack_fields(fields)


def decode_requests(payload: bytes) -> list[Request]:
    """The requests framed by ``encode_requests``; ``ValueError`` if malformed."""
    requests = []
    for method, path, query, content_type, agent, version, remote, body in _groups(
        unpack_fields(payload), _REQUEST_FIELDS
    ):
        headers = {
            name: value
            for name, value in zip(_FORWARDED_HEADERS, (content_type, agent, version), strict=True)
            if value
        }
        host, _, port = remote.decode("latin-1").rpartition(":")
        requests.append(
            Request(
                method=method.decode("latin-1"),
                path=path.decode("latin-1"),
                query=query,
                headers=headers,
                body=body,
                remote=(host, int(port) if port.isdigit() else 0),
            )
        )
    return requests


def encode_responses(responses: Iterable[Response]) -> bytes:
    """Frame the answers to forwarded requests."""
    fields: list[bytes] = []
    for response in responses:
        fields += (str(response.status).encode(), response.content_type, response.body)
    return pack_fields(fields)


def decode_responses(payload: bytes) -> list[Response]:
    """The answers framed by ``encode_responses``; ``ValueError`` if malformed."""
    responses = []
    for status, content_type, body in _groups(unpack_fields(payload), _RESPONSE_FIELDS):
        if not status.isdigit() or not 100 <= int(status) <= 599:
            raise ValueError("forwarded answer has no valid status")
        responses.append(Response(status=int(status), body=body, content_type=content_type))
    return responses


def encode_beats(beats: Iterable[Beat]) -> bytes:
    """Frame relayed beats."""
    fields: list[bytes] = []
    for namespace, name, key in beats:
        fields += (namespace.encode(), name.encode(), key.encode())
    return pack_fields(fields)


def decode_beats(payload: bytes) -> list[Beat]:
    """The beats framed by ``encode_beats``; ``ValueError`` if malformed (``UnicodeDecodeError`` too)."""
    return [
        (namespace.decode(), name.decode(), key.decode())
        for namespace, name, key in _groups(unpack_fields(payload), _BEAT_FIELDS)
    ]
