"""Digest tables for anti-entropy: key → (version, digest), diffed against a peer's table.

The message is compact binary (count, then per key: version, digest, length-prefixed UTF-8 key),
compressed with zstd level 1. ``decode`` validates every length against the buffer and raises
``ValueError`` on anything malformed or over ``max_bytes``.
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
    def __contains__(self, key: str) -> bool: ...
    def set(self, key: str, version: int, digest: int) -> None: ...
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

def decode(data: bytes, max_bytes: int = ...) -> DigestTable:
    """Parse an ``encode`` message; ``ValueError`` if it is malformed or too large."""
