"""Unit tests of the compiled digest tables: the message format, strict decoding, diff semantics."""

from __future__ import annotations

import struct

import pytest
import zstandard

from nacosfast import limits
from nacosfast._core.digest import MAX_DIGEST_MESSAGE_BYTES, DigestTable, decode


def table_of(entries: dict[str, tuple[int, int]]) -> DigestTable:
    table = DigestTable()
    for key, (version, digest) in entries.items():
        table.set(key, version, digest)
    return table


def compressed(payload: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=1).compress(payload)


def message(*entries: tuple[int, int, bytes], count: int | None = None, magic: bytes = b"NFD1") -> bytes:
    body = b"".join(struct.pack("<qQI", v, d, len(k)) + k for v, d, k in entries)
    return compressed(magic + struct.pack("<I", len(entries) if count is None else count) + body)


def test_digest_table_set_get_remove() -> None:
    table = DigestTable()
    table.set("a", 1, 2)
    table.set("a", 3, 4)  # overwrite in place
    assert table.get("a") == (3, 4)
    assert "a" in table
    assert len(table) == 1
    assert table.get("b") is None
    assert "b" not in table
    assert table.remove("a") is True
    assert table.remove("a") is False
    assert len(table) == 0


def test_digest_table_keeps_full_int64_and_uint64_ranges() -> None:
    table = table_of({"min": (-(2**63), 0), "max": (2**63 - 1, 2**64 - 1)})
    assert table.get("min") == (-(2**63), 0)
    assert table.get("max") == (2**63 - 1, 2**64 - 1)
    with pytest.raises(OverflowError):
        table.set("x", 2**63, 0)
    with pytest.raises(OverflowError):
        table.set("x", 0, -1)


def test_digest_table_refuses_keys_that_cannot_be_sent() -> None:
    table = DigestTable()
    with pytest.raises(UnicodeEncodeError):  # a ValueError: a lone surrogate cannot be UTF-8
        table.set("bad\udc80", 1, 1)
    with pytest.raises(TypeError):
        table.set(5, 1, 1)  # type: ignore[arg-type]
    assert len(table) == 0


def test_digest_table_keys_are_sorted() -> None:
    assert table_of({"b": (1, 1), "a": (1, 1), "é": (1, 1)}).keys() == ["a", "b", "é"]


def test_encode_decode_roundtrip() -> None:
    entries = {"public##DEFAULT_GROUP@@a": (7, 2**64 - 1), "ns##é": (-3, 0), "": (0, 5), "k" * 5000: (1, 1)}
    decoded = decode(table_of(entries).encode())
    assert {key: decoded.get(key) for key in list(decoded.keys())} == entries


def test_encode_format_is_sorted_little_endian_records_in_one_zstd_frame() -> None:
    data = table_of({"b": (1, 2), "a": (-1, 3)}).encode()
    assert zstandard.frame_content_size(data) == 8 + 2 * 20 + 2
    raw = zstandard.ZstdDecompressor().decompress(data)
    expected = (
        b"NFD1"
        + struct.pack("<I", 2)
        + struct.pack("<qQI", -1, 3, 1)
        + b"a"
        + struct.pack("<qQI", 1, 2, 1)
        + b"b"
    )
    assert raw == expected


def test_encode_subset_skips_unknown_and_repeated_keys() -> None:
    table = table_of({"a": (1, 1), "b": (2, 2), "c": (3, 3)})
    decoded = decode(table.encode(["c", "a", "missing", "a"]))
    assert decoded.keys() == ["a", "c"]
    assert decode(table.encode([])).keys() == []
    assert decode(DigestTable().encode()).keys() == []


def test_diff_fetches_missing_and_different_and_deletes_extra() -> None:
    local = table_of({"same": (1, 1), "old-version": (1, 1), "old-digest": (1, 1), "gone": (1, 1)})
    remote = table_of({"same": (1, 1), "old-version": (2, 1), "old-digest": (1, 9), "new": (1, 1)})
    assert local.diff(remote) == (["new", "old-digest", "old-version"], ["gone"])
    assert remote.diff(local) == (["gone", "old-digest", "old-version"], ["new"])
    assert local.diff(local) == ([], [])
    assert DigestTable().diff(local) == (sorted(local.keys()), [])
    assert local.diff(DigestTable()) == ([], sorted(local.keys()))


def test_diff_with_same_size_but_different_keys_finds_deletions() -> None:
    local, remote = table_of({"a": (1, 1), "b": (1, 1)}), table_of({"a": (1, 1), "c": (1, 1)})
    assert local.diff(remote) == (["c"], ["b"])


def test_decode_default_limit_is_the_named_limit() -> None:
    assert MAX_DIGEST_MESSAGE_BYTES == limits.CORE_MAX_DIGEST_MESSAGE_BYTES


def test_decode_refuses_messages_over_max_bytes_before_decompressing() -> None:
    data = table_of({f"key-{n}": (n, n) for n in range(100)}).encode()
    size = zstandard.frame_content_size(data)
    assert len(decode(data, max_bytes=size)) == 100
    with pytest.raises(ValueError, match="too large"):
        decode(data, max_bytes=size - 1)
    bomb = compressed(b"NFD1" + b"\0" * 50_000_000)  # a few KiB that would inflate to 50 MB
    with pytest.raises(ValueError, match="too large"):
        decode(bomb, max_bytes=1_000_000)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not a zstd frame"),
        (b"NFD1\0\0\0\0", "not a zstd frame"),
        (compressed(b"NFD"), "bad header"),
        (message(magic=b"NFD2"), "bad header"),
        (message(count=1), "count exceeds"),
        (message((1, 1, b"a"), count=2), "count exceeds"),
        (message((1, 1, b"a"), (2, 2, b"a")), "duplicate key"),
        (message((1, 1, b"\xff\xfe")), "not UTF-8"),
        (message((1, 1, b"\xed\xb2\x80")), "not UTF-8"),  # an encoded lone surrogate
        (compressed(b"NFD1" + struct.pack("<I", 1) + struct.pack("<qQI", 1, 1, 5) + b"ab"), "truncated key"),
        (compressed(b"NFD1" + struct.pack("<I", 0) + b"\0"), "trailing bytes"),
        (message((1, 1, b"a")) + b"\0", "bad zstd data"),
        (message((1, 1, b"a"))[:-1], "bad zstd data"),
        (zstandard.ZstdCompressor(write_content_size=False).compress(b"NFD1\0\0\0\0"), "content size"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_decode_rejects_malformed_messages(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        decode(data)


def test_decode_accepts_any_bytes_like() -> None:
    data = table_of({"a": (1, 2)}).encode()
    assert decode(bytearray(data)).get("a") == (1, 2)
    assert decode(memoryview(data)).get("a") == (1, 2)
