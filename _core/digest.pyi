"""Digest tables for anti-entropy: key → (version, digest), diffed against a peer's table.

The message is compact binary, little-endian: magic ``b"NFD1"``, uint32 count, then per key (sorted,
unique) int64 version, uint64 digest, uint32 length and the UTF-8 key; compressed with zstd level 1 as
one frame that records its content size. ``decode`` refuses a frame over ``max_bytes`` (or without a
content size) before decompressing, validates every length against the buffer, and raises
``ValueError`` on anything malformed; no input can crash it.
"""

from collections.abc import Iterable
from typing import Final, final

MAX_DIGEST_MESSAGE_BYTES: Final[int]
"""The largest decompressed digest message ``decode`` accepts by default."""

@final
class DigestTable:
    """key (str) → (version int64, digest uint64)."""

    def __init__(self) -> None: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: str, /) -> bool: ...
    def set(self, key: str, version: int, digest: int) -> None:
        """Store ``key`` → ``(version, digest)``. ``OverflowError`` outside int64 / uint64;
        ``UnicodeEncodeError`` (a ``ValueError``) for a key that is not valid text."""
    def get(self, key: str) -> tuple[int, int] | None: ...
    def remove(self, key: str) -> bool: ...
    def keys(self) -> list[str]:
        """Sorted keys."""
    def encode(self, keys: Iterable[str] | None = None) -> bytes:
        """The zstd-compressed digest message for ``keys`` (all keys when ``None``; unknown keys skipped)."""
    def diff(self, remote: DigestTable) -> tuple[list[str], list[str]]:
        """``(to_fetch, to_delete)`` against the owner's ``remote`` table, both sorted.

        Fetch a key the remote has and we lack, or whose version or digest differs; delete a key we
        hold that the remote does not list.
        """

def decode(data: bytes | bytearray | memoryview, max_bytes: int = ...) -> DigestTable:
    """Parse an ``encode`` message; ``ValueError`` if it is malformed or too large."""
