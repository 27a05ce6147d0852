"""Append-only, checksummed record log with snapshots: standalone persistence (no trio, no clocks).

Records are opaque byte strings, numbered by a sequence number (``seq``, from 1, contiguous for the
life of the data directory). ``append`` buffers in memory, ``flush`` makes everything buffered durable
with one write and one fsync (group commit), ``write_snapshot`` replaces the log's prefix with the full
state, and ``replay`` yields the snapshot's records and then every later log record, in order.

Data directory (docs/storage.md has the full description)::

    LOCK                          flock(LOCK_EX) while open; holds the owner's pid (for the message)
    snapshot                      the newest snapshot (replaced atomically by rename)
    snapshot.tmp                  a snapshot being written; removed at open
    wal-<first seq, 20 digits>.log  log segments; the highest is the active one
    wal-*.log.dropped             segments set aside at open because a record before them was damaged

Frame (log records and snapshot records alike; little-endian)::

    offset  size  field
    0       1     magic 0xA7
    1       1     format version 1
    2       2     reserved, 0
    4       4     payload length (at most STORE_MAX_RECORD_BYTES)
    8       8     seq
    16      n     payload
    16+n    8     xxh3_64 of bytes [0, 16+n): header and payload

Snapshot file: a 32-byte header ``b"NFSNAP01"``, covered seq (u64), record count (u64), xxh3_64 of
the first 24 bytes; then ``count`` frames numbered 1..count; then end of file. It holds the whole state
as of ``covered seq``: replay skips log records at or below it.

Invariants: a log segment named N holds records N, N+1, ... without gaps, and each segment continues
the previous one. Only the active segment's tail may be torn. Opening the log (``AppendLog.open``)
recovers: a damaged frame (short, bad header, bad length, bad checksum, out-of-sequence) ends the log;
the segment is cut there and any later segments are set aside, so everything after the damage is
dropped (later records may depend on the lost one). Recovery then fsyncs what it keeps, so that data
written by a killed process (in the page cache, never fsync'd) cannot vanish later under records
appended after it. A damaged snapshot is not repaired: it raises ``StoreCorruptError``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import mmap
import os  # noqa: TID251 - the store owns its files
import re
import struct
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Final

import xxhash

from nacosfast.limits import STORE_MAX_RECORD_BYTES, STORE_SNAPSHOT_WRITE_CHUNK_BYTES

__all__ = [
    "FRAME_OVERHEAD",
    "AppendLog",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "encode_frame",
]

_logger = logging.getLogger(__name__)

FRAME_MAGIC: Final = 0xA7
FRAME_VERSION: Final = 1
_HEAD: Final = struct.Struct("<BBHIQ")  # magic, version, reserved, payload length, seq
_SUM: Final = struct.Struct("<Q")  # xxh3_64 of head + payload
FRAME_OVERHEAD: Final = _HEAD.size + _SUM.size
"""Bytes a frame adds to its payload (24)."""

SNAPSHOT_MAGIC: Final = b"NFSNAP01"
_SNAP_HEAD: Final = struct.Struct("<8sQQ")  # magic, covered seq, record count
_SNAP_HEADER_SIZE: Final = _SNAP_HEAD.size + _SUM.size

LOCK_NAME: Final = "LOCK"
SNAPSHOT_NAME: Final = "snapshot"
SNAPSHOT_TMP_NAME: Final = "snapshot.tmp"
DROPPED_SUFFIX: Final = ".dropped"
_SEGMENT_RE: Final = re.compile(r"wal-(\d{20})\.log")
_FILE_MODE: Final = 0o644


class StoreError(Exception):
    """The data directory cannot be used."""


class StoreLockedError(StoreError):
    """Another process (or another ``AppendLog`` in this one) holds the data directory."""


class StoreCorruptError(StoreError):
    """Stored data is damaged in a way that would lose data if ignored (a snapshot, a missing range)."""


def encode_frame(seq: int, payload: bytes) -> bytes:
    """One frame: header, payload, checksum (see the module docstring)."""
    body = _HEAD.pack(FRAME_MAGIC, FRAME_VERSION, 0, len(payload), seq) + payload
    return body + _SUM.pack(xxhash.xxh3_64_intdigest(body))


def _segment_name(first_seq: int) -> str:
    return f"wal-{first_seq:020d}.log"


def _sync_data(fd: int) -> None:
    """fdatasync where the platform has it (the file size is data to it), else fsync."""
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # pragma: no cover - macOS
        os.fsync(fd)


def _pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (a regular file may take less than asked on a full disk)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        if written <= 0:  # pragma: no cover - the kernel reports ENOSPC rather than 0
            raise OSError(errno.EIO, "write made no progress")
        view = view[written:]
        offset += written


class _Frames:
    """Walks the frames of one buffer, from ``first_seq``; stops at the end or at the first bad frame.

    Iterating yields ``(seq, payload start, payload end)``. Afterwards ``offset`` is where the valid
    frames end, ``next_seq`` the seq a following frame would need, and ``error`` says why the walk
    stopped early (``None`` at a clean end of buffer).
    """

    __slots__ = ("buf", "error", "next_seq", "offset")

    def __init__(self, buf: bytes | mmap.mmap, first_seq: int, start: int = 0) -> None:
        self.buf = buf
        self.offset = start
        self.next_seq = first_seq
        self.error: str | None = None

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        buf = self.buf
        size = len(buf)
        while self.offset < size:
            offset = self.offset
            if size - offset < FRAME_OVERHEAD:
                self.error = f"torn frame at offset {offset} ({size - offset} bytes)"
                return
            magic, version, reserved, length, seq = _HEAD.unpack_from(buf, offset)
            if magic != FRAME_MAGIC or version != FRAME_VERSION or reserved != 0:
                self.error = f"bad frame header at offset {offset}"
                return
            if length > STORE_MAX_RECORD_BYTES:
                self.error = f"bad frame length {length} at offset {offset}"
                return
            end = offset + _HEAD.size + length
            if end + _SUM.size > size:
                self.error = f"torn frame at offset {offset} (needs {end + _SUM.size - offset} bytes)"
                return
            (checksum,) = _SUM.unpack_from(buf, end)
            # A temporary view: none may outlive a yield, or closing the mmap would fail.
            if xxhash.xxh3_64_intdigest(memoryview(buf)[offset:end]) != checksum:
                self.error = f"checksum mismatch at offset {offset}"
                return
            if seq != self.next_seq:
                self.error = f"sequence {seq} at offset {offset}, expected {self.next_seq}"
                return
            self.offset = end + _SUM.size
            self.next_seq = seq + 1
            yield seq, offset + _HEAD.size, end


@contextlib.contextmanager
def _mapped(path: str) -> Iterator[bytes | mmap.mmap]:
    """The file's bytes, memory-mapped read-only (``b""`` for an empty file)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            yield b""
            return
        with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mapped:
            yield mapped
    finally:
        os.close(fd)


def _read_snapshot_header(path: str, buf: bytes | mmap.mmap) -> tuple[int, int]:
    """``(covered seq, record count)`` of a snapshot file; StoreCorruptError when the header is bad."""
    if len(buf) < _SNAP_HEADER_SIZE:
        raise StoreCorruptError(f"snapshot {path} is damaged: {len(buf)} bytes, shorter than its header")
    magic, covers, count = _SNAP_HEAD.unpack_from(buf, 0)
    (checksum,) = _SUM.unpack_from(buf, _SNAP_HEAD.size)
    if magic != SNAPSHOT_MAGIC or xxhash.xxh3_64_intdigest(bytes(buf[: _SNAP_HEAD.size])) != checksum:
        raise StoreCorruptError(f"snapshot {path} is damaged: bad header")
    return covers, count


@dataclass(slots=True)
class _Segment:
    first_seq: int
    path: str
    size: int = 0
    records: int = 0

    @property
    def next_seq(self) -> int:
        return self.first_seq + self.records


class AppendLog:
    """An append-only record log with snapshots in one data directory (see the module docstring).

    Thread use: ``append`` may run on one thread while ``flush``, ``rotate`` or ``write_snapshot`` run
    on others (one at a time each); file operations are serialized by an internal lock.
    """

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        """Open (creating if needed) and recover ``data_dir``; prefer ``AppendLog.open``."""
        self.data_dir = os.fspath(data_dir)
        self._buf_lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._pending_records = 0
        self._last_seq = 0
        self._durable_seq = 0
        self._snapshot_seq = 0
        self._has_snapshot = False
        self._sealed: list[_Segment] = []
        self._active = _Segment(1, "")
        self._fd = -1
        self._end = 0
        self._tail_dirty = False
        self._replayable = True
        self._closed = False
        self.fsyncs = 0
        """Successful flushes that wrote records (one data fsync each)."""
        self.failed_flushes = 0
        self.failed_through = 0
        """Highest seq of the last failed flush (its records stay buffered, see ``flush``)."""

        self._lock_fd = -1
        self._dir_fd = -1
        try:
            self._lock_dir()
            self._recover()
        except BaseException:
            self._release()
            raise

    @classmethod
    def open(cls, data_dir: str | os.PathLike[str]) -> AppendLog:
        """Open ``data_dir`` (created if missing), lock it, and recover the log.

        Raises ``StoreLockedError`` when another process has it open, ``StoreCorruptError`` when the
        snapshot is damaged or the log does not continue it, and ``OSError`` for I/O failures.
        """
        return cls(data_dir)

    # --- opening ------------------------------------------------------------------------------------

    def _path(self, name: str) -> str:
        return os.path.join(self.data_dir, name)

    def _lock_dir(self) -> None:
        if not os.path.isdir(self.data_dir):
            os.makedirs(self.data_dir, exist_ok=True)
            parent = os.path.dirname(os.path.abspath(self.data_dir))
            self._fsync_dir(parent)
        self._dir_fd = os.open(self.data_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        lock_path = self._path(LOCK_NAME)
        self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(self._lock_fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise StoreLockedError(
                f"data directory {self.data_dir} is in use by another nacosfast process (pid {owner}); "
                "stop it or choose another --data-dir"
            ) from None
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, f"{os.getpid()}\n".encode(), 0)

    @staticmethod
    def _fsync_dir(path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _recover(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(SNAPSHOT_TMP_NAME))

        snapshot_path = self._path(SNAPSHOT_NAME)
        if os.path.exists(snapshot_path):
            with _mapped(snapshot_path) as buf:
                self._snapshot_seq, _ = _read_snapshot_header(snapshot_path, buf)
            self._has_snapshot = True
            # A killed writer's snapshot may not be durable yet; it must be before segments go.
            self._fsync_file(snapshot_path)
            os.fsync(self._dir_fd)
        covers = self._snapshot_seq

        segments = sorted(
            (
                _Segment(int(match.group(1)), self._path(name))
                for name in os.listdir(self.data_dir)
                if (match := _SEGMENT_RE.fullmatch(name))
            ),
            key=lambda segment: segment.first_seq,
        )
        # Sealed segments wholly covered by the snapshot (a crash came between snapshot and cleanup).
        while len(segments) > 1 and segments[1].first_seq <= covers + 1:
            os.unlink(segments.pop(0).path)
        if segments and segments[0].first_seq > covers + 1:
            raise StoreCorruptError(
                f"log in {self.data_dir} starts at record {segments[0].first_seq} but the snapshot ends at "
                f"record {covers}: records in between are missing"
            )

        kept: list[_Segment] = []
        for index, segment in enumerate(segments):
            if kept and segment.first_seq != kept[-1].next_seq:
                self._set_aside(
                    segments[index:],
                    f"{segment.path} starts at record {segment.first_seq}, expected {kept[-1].next_seq}",
                )
                break
            with _mapped(segment.path) as buf:
                frames = _Frames(buf, segment.first_seq)
                for _ in frames:
                    pass
                size = len(buf)
            segment.size = frames.offset
            segment.records = frames.next_seq - segment.first_seq
            kept.append(segment)
            if frames.error is not None:
                _logger.error(
                    "log %s: %s; cutting %d bytes there (records from %d on are dropped)",
                    segment.path,
                    frames.error,
                    size - frames.offset,
                    frames.next_seq,
                )
                self._truncate_file(segment.path, frames.offset)
                self._set_aside(segments[index + 1 :], f"they follow damage in {segment.path}")
                break

        last_log_seq = kept[-1].next_seq - 1 if kept else covers
        if not kept or last_log_seq < covers or (last_log_seq == covers and kept[-1].records):
            # Every log record is in the snapshot: start a fresh segment right after it.
            for segment in kept:
                if segment.first_seq != covers + 1:
                    os.unlink(segment.path)
            kept = [segment for segment in kept if segment.first_seq == covers + 1 and not segment.records]
            if not kept:
                kept = [_Segment(covers + 1, self._path(_segment_name(covers + 1)))]
        for segment in kept:  # what a killed process wrote may still be only in the page cache
            self._fsync_file(segment.path, create=True)
        os.fsync(self._dir_fd)

        self._sealed = kept[:-1]
        self._active = kept[-1]
        self._fd = os.open(self._active.path, os.O_RDWR | os.O_CLOEXEC)
        self._end = self._active.size
        self._last_seq = self._durable_seq = max(covers, self._active.next_seq - 1)

    def _fsync_file(self, path: str, *, create: bool = False) -> None:
        flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        fd = os.open(path, flags, _FILE_MODE)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _truncate_file(self, path: str, size: int) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _set_aside(self, segments: list[_Segment], reason: str) -> None:
        for segment in segments:
            _logger.error("log %s set aside as %s%s: %s", segment.path, segment.path, DROPPED_SUFFIX, reason)
            os.replace(segment.path, segment.path + DROPPED_SUFFIX)

    # --- state --------------------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """The seq of the newest record (appended, durable or not); 0 for an empty store."""
        return self._last_seq

    @property
    def durable_seq(self) -> int:
        """Every record up to this seq is on disk and fsync'd."""
        return self._durable_seq

    @property
    def snapshot_seq(self) -> int:
        """The seq the newest snapshot covers (0 without a snapshot)."""
        return self._snapshot_seq

    @property
    def pending_records(self) -> int:
        """Records appended and not yet durable (including those of a failed flush)."""
        return self._pending_records

    @property
    def pending_bytes(self) -> int:
        """Framed bytes appended and not yet durable."""
        return self._pending_bytes

    @property
    def log_bytes(self) -> int:
        """Bytes in the log segments on disk (what replay reads after the snapshot)."""
        return sum(segment.size for segment in self._sealed) + self._end

    @property
    def log_records(self) -> int:
        """Durable records in the log segments (some may already be covered by the snapshot)."""
        return sum(segment.records for segment in self._sealed) + self._active.records

    # --- writing ------------------------------------------------------------------------------------

    def append(self, payload: bytes) -> int:
        """Buffer one record and return its seq; it is durable once ``flush`` returns a seq ≥ it.

        Raises ``ValueError`` for a payload over ``STORE_MAX_RECORD_BYTES``.
        """
        length = len(payload)
        if length > STORE_MAX_RECORD_BYTES:
            raise ValueError(
                f"record of {length} bytes is larger than the {STORE_MAX_RECORD_BYTES}-byte storage limit"
            )
        if self._closed:
            raise StoreError(f"log in {self.data_dir} is closed")
        with self._buf_lock:
            seq = self._last_seq + 1
            body = _HEAD.pack(FRAME_MAGIC, FRAME_VERSION, 0, length, seq) + payload
            self._pending.append(body)
            self._pending.append(_SUM.pack(xxhash.xxh3_64_intdigest(body)))
            self._pending_bytes += length + FRAME_OVERHEAD
            self._pending_records += 1
            self._last_seq = seq
            self._replayable = False
        return seq

    def flush(self) -> int:
        """Write every buffered record with one write and one fsync; return the highest durable seq.

        On ``OSError`` (ENOSPC, EIO, ...) the active segment is cut back to its last durable length,
        the records stay buffered, in order and ahead of any appended later, so the next ``flush``
        writes them again; then the error is re-raised. Nothing is ever written after a record that
        did not make it, so the log on disk is always a prefix of what was appended.
        """
        with self._io_lock:
            if self._closed:
                raise StoreError(f"log in {self.data_dir} is closed")
            with self._buf_lock:
                if not self._pending:
                    return self._durable_seq
                data = b"".join(self._pending)
                upto = self._last_seq
                records = self._pending_records
                self._pending = []
                self._pending_bytes = 0
                self._pending_records = 0
            try:
                if self._tail_dirty:
                    os.ftruncate(self._fd, self._end)
                    self._tail_dirty = False
                _pwrite_all(self._fd, data, self._end)
                _sync_data(self._fd)
            except OSError:
                self.failed_flushes += 1
                self.failed_through = upto
                self._tail_dirty = True
                try:
                    os.ftruncate(self._fd, self._end)
                    self._tail_dirty = False
                except OSError:
                    _logger.exception("log %s: cannot cut the failed write back", self._active.path)
                with self._buf_lock:
                    self._pending.insert(0, data)
                    self._pending_bytes += len(data)
                    self._pending_records += records
                raise
            self._end += len(data)
            self._active.size = self._end
            self._active.records += records
            self._durable_seq = upto
            self.fsyncs += 1
            return upto

    def discard(self) -> int:
        """Drop every buffered record (after a failed ``flush``) and return how many were dropped.

        The log ends at ``durable_seq`` again: the dropped records are cut from the segment for good
        and the next ``append`` reuses their seqs. Raises ``OSError`` (keeping the records buffered, so
        that the next ``flush`` writes them) if the failed write cannot be cut back from the segment,
        since it could otherwise be read back at the next open.
        """
        with self._io_lock:
            if self._closed:
                raise StoreError(f"log in {self.data_dir} is closed")
            if self._tail_dirty:
                os.ftruncate(self._fd, self._end)
                self._tail_dirty = False
            with contextlib.suppress(OSError):  # make the cut durable too; the next flush retries it
                _sync_data(self._fd)
            with self._buf_lock:
                dropped = self._pending_records
                self._pending = []
                self._pending_bytes = 0
                self._pending_records = 0
                self._last_seq = self._durable_seq
            return dropped

    def rotate(self) -> None:
        """Start a new active segment (no-op when the active one is empty).

        Call it before capturing the state for ``write_snapshot``: the snapshot can then delete every
        segment up to the new one, while records flushed during the snapshot go to the new one.
        """
        with self._io_lock:
            self._rotate_locked()

    def _rotate_locked(self) -> None:
        if self._closed:
            raise StoreError(f"log in {self.data_dir} is closed")
        if self._end == 0:
            return
        os.ftruncate(self._fd, self._end)  # drop what a failed flush may have left, make it final
        os.fsync(self._fd)
        self._tail_dirty = False
        first = self._durable_seq + 1
        segment = _Segment(first, self._path(_segment_name(first)))
        fd = os.open(segment.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)
        try:
            os.fsync(self._dir_fd)
        except OSError:
            os.close(fd)
            os.unlink(segment.path)
            raise
        os.close(self._fd)
        self._sealed.append(self._active)
        self._active, self._fd, self._end = segment, fd, 0

    def write_snapshot(self, payloads: Iterable[bytes], covers: int | None = None) -> None:
        """Atomically replace the snapshot with ``payloads``, the whole state as of record ``covers``.

        ``covers`` defaults to ``last_seq``; when the state was captured earlier (on another thread),
        pass the ``last_seq`` read together with it. Writes ``snapshot.tmp``, fsyncs it, renames it over
        ``snapshot`` and fsyncs the directory; then deletes the log segments the snapshot covers (and
        first starts a new segment when the active one holds nothing newer). On error the previous
        snapshot and the log stay as they were and the error is raised (ValueError for a payload over
        ``STORE_MAX_RECORD_BYTES``).
        """
        if covers is None:
            covers = self._last_seq
        if not self._snapshot_seq <= covers <= self._last_seq:
            raise ValueError(
                f"a snapshot must cover a seq between {self._snapshot_seq} and {self._last_seq}, not {covers}"
            )
        if self._closed:
            raise StoreError(f"log in {self.data_dir} is closed")
        tmp_path = self._path(SNAPSHOT_TMP_NAME)
        fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, _FILE_MODE)
        try:
            offset = _SNAP_HEADER_SIZE  # the header goes last, once the count is known
            count = 0
            chunk: list[bytes] = []
            chunk_bytes = 0
            for payload in payloads:
                if len(payload) > STORE_MAX_RECORD_BYTES:
                    raise ValueError(
                        f"snapshot record of {len(payload)} bytes is larger than the "
                        f"{STORE_MAX_RECORD_BYTES}-byte storage limit"
                    )
                count += 1
                frame = encode_frame(count, payload)
                chunk.append(frame)
                chunk_bytes += len(frame)
                if chunk_bytes >= STORE_SNAPSHOT_WRITE_CHUNK_BYTES:
                    _pwrite_all(fd, b"".join(chunk), offset)
                    offset += chunk_bytes
                    chunk, chunk_bytes = [], 0
            if chunk:
                _pwrite_all(fd, b"".join(chunk), offset)
            head = _SNAP_HEAD.pack(SNAPSHOT_MAGIC, covers, count)
            _pwrite_all(fd, head + _SUM.pack(xxhash.xxh3_64_intdigest(head)), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp_path)
            raise
        os.close(fd)
        os.rename(tmp_path, self._path(SNAPSHOT_NAME))
        os.fsync(self._dir_fd)
        self._snapshot_seq = covers
        self._has_snapshot = True

        with self._io_lock:
            if not self._closed:
                self._drop_covered_locked(covers)

    def _drop_covered_locked(self, covers: int) -> None:
        """After a snapshot of ``covers``: delete the segments it makes unnecessary."""
        if self._durable_seq <= covers:
            self._rotate_locked()
        # A sealed segment ends where the next one starts; delete it once the snapshot covers that.
        deleted = False
        while self._sealed:
            following = self._sealed[1] if len(self._sealed) > 1 else self._active
            if following.first_seq > covers + 1:
                break
            os.unlink(self._sealed.pop(0).path)
            deleted = True
        if deleted:
            os.fsync(self._dir_fd)

    # --- reading ------------------------------------------------------------------------------------

    def replay(self) -> Generator[bytes, None, None]:
        """The stored records in order: the snapshot's, then the log's newer ones.

        Call it at start-up, before ``append`` (``RuntimeError`` otherwise). Damage in the log was
        already cut away by ``open``; a damaged snapshot raises ``StoreCorruptError``.
        """
        if not self._replayable:
            raise RuntimeError("replay() reads the store as opened; call it before append()")
        if self._closed:
            raise StoreError(f"log in {self.data_dir} is closed")
        return self._replay(self._has_snapshot, self._snapshot_seq, [*self._sealed, self._active])

    def _replay(
        self, has_snapshot: bool, covers: int, segments: list[_Segment]
    ) -> Generator[bytes, None, None]:
        if has_snapshot:
            path = self._path(SNAPSHOT_NAME)
            with _mapped(path) as buf:
                _, count = _read_snapshot_header(path, buf)
                frames = _Frames(buf, 1, _SNAP_HEADER_SIZE)
                for _, start, end in frames:
                    yield buf[start:end]
                if frames.error is not None or frames.next_seq != count + 1:
                    raise StoreCorruptError(
                        f"snapshot {path} is damaged: {frames.error or 'wrong record count'} "
                        f"after {frames.next_seq - 1} of {count} records"
                    )
        for segment in segments:
            with _mapped(segment.path) as buf:
                frames = _Frames(buf, segment.first_seq)
                for seq, start, end in frames:
                    if seq > covers:
                        yield buf[start:end]
                if frames.error is not None:
                    raise StoreCorruptError(f"log {segment.path} changed while replaying: {frames.error}")

    # --- closing ------------------------------------------------------------------------------------

    def close(self) -> None:
        """Flush what is buffered, then close the files and release the lock (idempotent).

        If that last flush fails, the files are still closed and the error is raised.
        """
        if self._closed:
            return
        try:
            self.flush()
        finally:
            with self._io_lock:
                self._closed = True
                self._release()

    def _release(self) -> None:
        for name in ("_fd", "_dir_fd", "_lock_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                setattr(self, name, -1)
                with contextlib.suppress(OSError):
                    os.close(fd)

    def __enter__(self) -> AppendLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
