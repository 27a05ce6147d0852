"""Persistence: the local append-only log with snapshots (standalone mode). See docs/storage.md."""

from __future__ import annotations

from nacosfast.store.log import (
    FRAME_OVERHEAD,
    AppendLog,
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    encode_frame,
)

__all__ = [
    "FRAME_OVERHEAD",
    "AppendLog",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "encode_frame",
]
