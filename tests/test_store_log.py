"""nacosfast.store.log: framing, recovery from torn and damaged logs, snapshots, locking, disk errors."""

from __future__ import annotations

import errno
import os
import shutil
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from nacosfast.limits import STORE_MAX_RECORD_BYTES
from nacosfast.store import (
    FRAME_OVERHEAD,
    AppendLog,
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    encode_frame,
)


def records(count: int, prefix: str = "r") -> list[bytes]:
    return [f"{prefix}{i:04d}-{'x' * (i % 7)}".encode() for i in range(count)]


def append_all(log: AppendLog, payloads: list[bytes]) -> None:
    for payload in payloads:
        log.append(payload)


def write_two_segments(log: AppendLog) -> None:
    """``records(3)`` durable in a sealed segment, then ``four`` durable in the active one."""
    append_all(log, records(3))
    log.flush()
    log.rotate()
    log.append(b"four")
    log.flush()


def write_log(data_dir: Path, payloads: list[bytes]) -> None:
    with AppendLog.open(data_dir) as log:
        append_all(log, payloads)
        log.flush()


def replayed(data_dir: Path) -> list[bytes]:
    with AppendLog.open(data_dir) as log:
        return list(log.replay())


def segments(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob("wal-*.log"))


def crash(log: AppendLog) -> None:
    """What kill -9 leaves: files as written so far, buffered records lost, the lock released."""
    log._release()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


# --- framing ------------------------------------------------------------------------------------------


def test_encode_frame_layout() -> None:
    frame = encode_frame(7, b"hello")
    assert len(frame) == FRAME_OVERHEAD + 5
    assert struct.unpack_from("<BBHIQ", frame) == (0xA7, 1, 0, 5, 7)
    assert frame[16:21] == b"hello"
    assert struct.unpack_from("<Q", frame, 21)[0] == xxhash.xxh3_64_intdigest(frame[:21])


def test_log_file_holds_exactly_the_frames(data_dir: Path) -> None:
    payloads = [b"", b"a", b"\x00" * 300, "ünïcode".encode()]
    write_log(data_dir, payloads)
    (segment,) = segments(data_dir)
    assert segment.read_bytes() == b"".join(encode_frame(i + 1, p) for i, p in enumerate(payloads))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=2_000), max_size=30))
def test_payloads_round_trip(payloads: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        write_log(data_dir, payloads)
        assert replayed(data_dir) == payloads


def test_append_returns_consecutive_seqs_and_flush_the_durable_one(data_dir: Path) -> None:
    with AppendLog.open(data_dir) as log:
        assert log.flush() == 0
        assert [log.append(p) for p in records(3)] == [1, 2, 3]
        assert log.last_seq == 3
        assert log.durable_seq == 0
        assert log.pending_records == 3
        assert log.flush() == 3
        assert log.durable_seq == 3
        assert log.pending_records == 0
        assert log.pending_bytes == 0
    with AppendLog.open(data_dir) as log:
        assert log.last_seq == 3
        assert log.append(b"next") == 4


def test_append_refuses_oversized_records(data_dir: Path) -> None:
    with AppendLog.open(data_dir) as log:
        with pytest.raises(ValueError, match="storage limit"):
            log.append(b"x" * (STORE_MAX_RECORD_BYTES + 1))
        assert log.last_seq == 0


# --- replay -------------------------------------------------------------------------------------------


def test_replay_after_clean_close(data_dir: Path) -> None:
    write_log(data_dir, records(50))
    assert replayed(data_dir) == records(50)


def test_close_flushes_pending_records(data_dir: Path) -> None:
    log = AppendLog.open(data_dir)
    log.append(b"one")
    log.close()
    log.close()  # idempotent
    assert replayed(data_dir) == [b"one"]


def test_replay_of_an_empty_directory_is_empty(data_dir: Path) -> None:
    assert replayed(data_dir) == []
    assert data_dir.is_dir()


def test_replay_after_append_is_refused(data_dir: Path) -> None:
    with AppendLog.open(data_dir) as log:
        log.append(b"x")
        with pytest.raises(RuntimeError, match="before append"):
            log.replay()


def test_closed_log_refuses_work(data_dir: Path) -> None:
    log = AppendLog.open(data_dir)
    log.close()
    with pytest.raises(StoreError, match="closed"):
        log.append(b"x")
    with pytest.raises(StoreError, match="closed"):
        log.flush()


def test_abandoned_replay_releases_the_files(data_dir: Path) -> None:
    write_log(data_dir, records(10))
    with AppendLog.open(data_dir) as log:
        log.write_snapshot(records(10))
        log.append(b"after")
    with AppendLog.open(data_dir) as log:
        replay = log.replay()
        assert next(replay) == records(10)[0]
        replay.close()  # leaves the snapshot's mapping mid-walk
        assert list(log.replay()) == [*records(10), b"after"]


def test_crash_loses_only_unflushed_records(data_dir: Path) -> None:
    log = AppendLog.open(data_dir)
    log.append(b"durable")
    log.flush()
    log.append(b"lost")
    crash(log)
    assert replayed(data_dir) == [b"durable"]
    with AppendLog.open(data_dir) as log:
        assert log.append(b"again") == 2
    assert replayed(data_dir) == [b"durable", b"again"]


# --- torn and damaged logs ----------------------------------------------------------------------------


def test_torn_tail_at_every_offset_of_the_last_record(tmp_path: Path) -> None:
    payloads = records(5)
    source = tmp_path / "source"
    write_log(source, payloads)
    (segment,) = segments(source)
    full = segment.read_bytes()
    last_start = len(full) - len(encode_frame(5, payloads[-1]))
    for cut in range(last_start, len(full)):
        data_dir = tmp_path / f"cut{cut}"
        data_dir.mkdir()
        (data_dir / segment.name).write_bytes(full[:cut])
        with AppendLog.open(data_dir) as log:
            assert list(log.replay()) == payloads[:4], cut
            assert (data_dir / segment.name).stat().st_size == last_start
            assert log.append(b"after") == 5
        assert replayed(data_dir) == [*payloads[:4], b"after"], cut


@pytest.mark.parametrize(
    ("where", "offset_in_frame"),
    [("magic", 0), ("length", 5), ("seq", 9), ("payload", 17), ("checksum", -1)],
)
def test_flipped_bit_drops_the_record_and_everything_after(
    data_dir: Path, where: str, offset_in_frame: int
) -> None:
    payloads = records(10)
    write_log(data_dir, payloads)
    (segment,) = segments(data_dir)
    data = bytearray(segment.read_bytes())
    start = sum(len(encode_frame(i + 1, p)) for i, p in enumerate(payloads[:4]))
    frame_len = len(encode_frame(5, payloads[4]))
    position = start + (offset_in_frame % frame_len)
    data[position] ^= 0x10
    segment.write_bytes(bytes(data))
    with AppendLog.open(data_dir) as log:
        assert list(log.replay()) == payloads[:4], where
        assert log.append(b"after") == 5
    assert replayed(data_dir) == [*payloads[:4], b"after"]


def test_damage_in_a_sealed_segment_sets_later_segments_aside(data_dir: Path) -> None:
    with AppendLog.open(data_dir) as log:
        append_all(log, records(4))
        log.flush()
        log.rotate()
        append_all(log, records(4, "s"))
    first, second = segments(data_dir)
    data = bytearray(first.read_bytes())
    data[len(encode_frame(1, records(4)[0])) + 20] ^= 1  # inside record 2
    first.write_bytes(bytes(data))
    with AppendLog.open(data_dir) as log:
        assert list(log.replay()) == records(1)
        assert log.append(b"after") == 2
    assert not second.exists()
    assert (data_dir / (second.name + ".dropped")).exists()
    assert replayed(data_dir) == [*records(1), b"after"]


def test_out_of_sequence_frame_ends_the_log(data_dir: Path) -> None:
    data_dir.mkdir()
    frames = [encode_frame(1, b"one"), encode_frame(2, b"two"), encode_frame(2, b"two again")]
    (data_dir / "wal-00000000000000000001.log").write_bytes(b"".join([*frames, encode_frame(3, b"three")]))
    with AppendLog.open(data_dir) as log:
        assert list(log.replay()) == [b"one", b"two"]
        assert log.append(b"three") == 3


def test_gap_between_segments_ends_the_log(data_dir: Path) -> None:
    write_log(data_dir, records(3))
    stray = data_dir / "wal-00000000000000000010.log"
    stray.write_bytes(encode_frame(10, b"ten"))
    assert replayed(data_dir) == records(3)
    assert (data_dir / (stray.name + ".dropped")).exists()


# --- snapshots ----------------------------------------------------------------------------------------


def test_snapshot_then_newer_records_replay_in_order(data_dir: Path) -> None:
    with AppendLog.open(data_dir) as log:
        append_all(log, records(100))
        log.flush()
        size_before = log.log_bytes
        log.write_snapshot([b"state-a", b"state-b"])
        assert log.snapshot_seq == 100
        assert log.log_bytes == 0 < size_before
        assert log.log_records == 0
        assert [p.name for p in segments(data_dir)] == ["wal-00000000000000000101.log"]
        assert log.append(b"newer") == 101
    assert replayed(data_dir) == [b"state-a", b"state-b", b"newer"]
    with AppendLog.open(data_dir) as log:
        assert log.snapshot_seq == 100
        assert log.last_seq == 101


def test_snapshot_covering_unflushed_records_survives_a_crash(data_dir: Path) -> None:
    log = AppendLog.open(data_dir)
    log.append(b"a")
    log.flush()
    log.append(b"b")
    log.append(b"c")
    log.write_snapshot([b"a", b"b", b"c"])  # covers 3; b and c are only in the snapshot
    crash(log)
    with AppendLog.open(data_dir) as log:
        assert list(log.replay()) == [b"a", b"b", b"c"]
        assert log.last_seq == 3
        assert log.append(b"d") == 4
    assert replayed(data_dir) == [b"a", b"b", b"c", b"d"]


def test_rotate_then_snapshot_keeps_records_written_meanwhile(data_dir: Path) -> None:
    with AppendLog.open(data_dir) as log:
        append_all(log, records(5))
        log.flush()
        log.rotate()
        log.append(b"six")
        covers = log.last_seq  # the state is captured here: five records and "six"
        state = [*records(5), b"six"]
        log.append(b"seven")  # written while the snapshot is being written
        log.flush()
        log.write_snapshot(state, covers)
        assert [p.name for p in segments(data_dir)] == ["wal-00000000000000000006.log"]
    assert replayed(data_dir) == [*records(5), b"six", b"seven"]


def test_snapshot_of_a_state_before_any_record(data_dir: Path) -> None:
    with AppendLog.open(data_dir) as log:
        log.write_snapshot([b"seed"])
        assert log.snapshot_seq == 0
    with AppendLog.open(data_dir) as log:
        assert list(log.replay()) == [b"seed"]
        assert log.append(b"first") == 1
    assert replayed(data_dir) == [b"seed", b"first"]


def test_snapshot_keeps_a_segment_that_ends_past_it(data_dir: Path) -> None:
    with AppendLog.open(data_dir) as log:
        write_two_segments(log)
        log.write_snapshot(records(2), covers=2)  # state captured before record 3: wal-1 is still needed
        assert len(segments(data_dir)) == 2
    assert replayed(data_dir) == [*records(3), b"four"]


def test_open_fsyncs_everything_it_keeps(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with AppendLog.open(data_dir) as log:
        log.append(b"a")
        log.write_snapshot([b"a"])
        log.append(b"b")
        log.flush()
        log.rotate()
        log.append(b"c")
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    with AppendLog.open(data_dir):
        pass
    expected = [str(data_dir / "snapshot"), *map(str, segments(data_dir)), str(data_dir)]
    assert len(expected) == 4
    assert set(expected) <= set(synced)
    assert synced.index(str(data_dir / "snapshot")) < synced.index(str(data_dir))


def test_snapshot_cannot_go_back_or_ahead(data_dir: Path) -> None:
    with AppendLog.open(data_dir) as log:
        log.append(b"a")
        log.write_snapshot([b"a"])
        with pytest.raises(ValueError, match="between"):
            log.write_snapshot([], 0)
        with pytest.raises(ValueError, match="between"):
            log.write_snapshot([], 5)


def test_failed_snapshot_leaves_the_previous_one(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with AppendLog.open(data_dir) as log:
        log.append(b"a")
        log.write_snapshot([b"a"])
        log.append(b"b")
        log.flush()
        monkeypatch.setattr(os, "fsync", raise_oserror(errno.ENOSPC))
        with pytest.raises(OSError, match="No space"):
            log.write_snapshot([b"a", b"b"])
        monkeypatch.undo()
        assert not (data_dir / "snapshot.tmp").exists()
        assert log.snapshot_seq == 1
        with pytest.raises(ValueError, match="storage limit"):
            log.write_snapshot([b"x" * (STORE_MAX_RECORD_BYTES + 1)])
        assert not (data_dir / "snapshot.tmp").exists()
    assert replayed(data_dir) == [b"a", b"b"]


def test_leftover_snapshot_tmp_is_removed(data_dir: Path) -> None:
    write_log(data_dir, [b"a"])
    (data_dir / "snapshot.tmp").write_bytes(b"half a snapshot")
    assert replayed(data_dir) == [b"a"]
    assert not (data_dir / "snapshot.tmp").exists()


def test_segments_left_by_a_crash_after_the_snapshot_are_deleted(data_dir: Path, tmp_path: Path) -> None:
    with AppendLog.open(data_dir) as log:
        write_two_segments(log)
        saved = {p.name: p.read_bytes() for p in segments(data_dir)}
        log.write_snapshot([*records(3), b"four"])
        log.append(b"five")
    for name, content in saved.items():  # as if the crash came before the deletions
        (data_dir / name).write_bytes(content)
    with AppendLog.open(data_dir) as log:
        assert list(log.replay()) == [*records(3), b"four", b"five"]
        assert [p.name for p in segments(data_dir)] == ["wal-00000000000000000005.log"]


@pytest.mark.parametrize("damage", ["header", "record", "truncated", "extra"])
def test_damaged_snapshot_raises(data_dir: Path, damage: str) -> None:
    with AppendLog.open(data_dir) as log:
        append_all(log, records(3))
        log.write_snapshot(records(3))
    snapshot = data_dir / "snapshot"
    data = bytearray(snapshot.read_bytes())
    if damage == "header":
        data[10] ^= 1
    elif damage == "record":
        data[-3] ^= 1
    elif damage == "truncated":
        del data[-5:]
    else:
        data += encode_frame(4, b"extra")
    snapshot.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError, match="snapshot"):  # a bad header fails at open, the rest in replay
        replayed(data_dir)


def test_log_that_does_not_continue_the_snapshot_raises(data_dir: Path) -> None:
    with AppendLog.open(data_dir) as log:
        log.append(b"a")
        log.write_snapshot([b"a"])
    for segment in segments(data_dir):
        segment.unlink()
    (data_dir / "wal-00000000000000000009.log").write_bytes(encode_frame(9, b"nine"))
    with pytest.raises(StoreCorruptError, match="missing"):
        AppendLog.open(data_dir)


# --- locking ------------------------------------------------------------------------------------------


def test_lock_prevents_a_second_opener(data_dir: Path) -> None:
    first = AppendLog.open(data_dir)
    with pytest.raises(StoreLockedError, match=rf"in use by another nacosfast process \(pid {os.getpid()}\)"):
        AppendLog.open(data_dir)
    first.close()
    AppendLog.open(data_dir).close()


def test_data_dir_that_is_a_file_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"")
    with pytest.raises(OSError, match=r"Not a directory|File exists"):
        AppendLog.open(path)


# --- disk errors --------------------------------------------------------------------------------------


def raise_oserror(code: int) -> Callable[..., None]:
    def fail(*args: object) -> None:
        raise OSError(code, os.strerror(code))

    return fail


def half_then_enospc(real: Callable[[int, bytes, int], int]) -> Callable[[int, bytes, int], int]:
    calls = iter(range(1_000))

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        if next(calls) == 0:
            return real(fd, bytes(memoryview(data)[: len(data) // 2]), offset)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return pwrite


def failed_flush_of_two(data_dir: Path, monkeypatch: pytest.MonkeyPatch, failure: str) -> AppendLog:
    """A log holding ``before`` whose flush of ``one`` and ``two`` failed (and was cut back)."""
    log = AppendLog.open(data_dir)
    log.append(b"before")
    log.flush()
    (segment,) = segments(data_dir)
    good_size = segment.stat().st_size
    log.append(b"one")
    log.append(b"two")
    if failure == "partial-write":
        monkeypatch.setattr(os, "pwrite", half_then_enospc(os.pwrite))
    else:
        monkeypatch.setattr(os, "fdatasync", raise_oserror(errno.EIO))
    with pytest.raises(OSError, match=r"No space|Input/output"):
        log.flush()
    assert segment.stat().st_size == good_size
    return log


@pytest.mark.parametrize("failure", ["partial-write", "fsync"])
def test_failed_flush_cuts_back_keeps_records_and_retries(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    log = failed_flush_of_two(data_dir, monkeypatch, failure)
    assert log.durable_seq == 1
    assert log.failed_through == 3
    assert log.pending_records == 2
    log.append(b"three")
    with pytest.raises(OSError, match=r"No space|Input/output"):
        log.flush()
    assert log.failed_flushes == 2
    monkeypatch.undo()
    assert log.flush() == 4
    assert log.pending_records == 0
    log.close()
    assert replayed(data_dir) == [b"before", b"one", b"two", b"three"]


@pytest.mark.parametrize("failure", ["partial-write", "fsync"])
def test_discard_after_a_failed_flush_drops_the_records_and_reuses_their_seqs(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    log = failed_flush_of_two(data_dir, monkeypatch, failure)
    (segment,) = segments(data_dir)
    size = segment.stat().st_size
    assert log.discard() == 2
    assert (log.last_seq, log.durable_seq, log.pending_records, log.pending_bytes) == (1, 1, 0, 0)
    assert segment.stat().st_size == size
    monkeypatch.undo()
    assert log.append(b"after") == 2
    assert log.flush() == 2
    log.close()
    assert replayed(data_dir) == [b"before", b"after"]


def test_discard_keeps_the_records_when_the_failed_write_cannot_be_cut_back(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AppendLog.open(data_dir)
    log.append(b"a")
    log.flush()
    log.append(b"b")
    monkeypatch.setattr(os, "pwrite", half_then_enospc(os.pwrite))
    monkeypatch.setattr(os, "ftruncate", raise_oserror(errno.EIO))
    with pytest.raises(OSError, match="No space"):
        log.flush()
    with pytest.raises(OSError, match="Input/output"):
        log.discard()
    assert log.pending_records == 1  # written again by the next flush, which cuts back first
    monkeypatch.undo()
    assert log.flush() == 2
    log.close()
    assert replayed(data_dir) == [b"a", b"b"]


def test_log_left_by_a_failing_disk_replays(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = AppendLog.open(data_dir)
    log.append(b"kept")
    log.flush()
    log.append(b"never written")
    monkeypatch.setattr(os, "pwrite", raise_oserror(errno.ENOSPC))
    with pytest.raises(OSError, match="No space"):
        log.close()
    monkeypatch.undo()
    with AppendLog.open(data_dir) as log:
        assert list(log.replay()) == [b"kept"]
        assert log.append(b"next") == 2
    assert replayed(data_dir) == [b"kept", b"next"]


def test_rotation_after_a_failed_flush_continues_the_sequence(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with AppendLog.open(data_dir) as log:
        log.append(b"a")
        log.flush()
        log.append(b"b")
        monkeypatch.setattr(os, "pwrite", half_then_enospc(os.pwrite))
        with pytest.raises(OSError, match="No space"):
            log.flush()
        monkeypatch.undo()
        log.rotate()
        assert log.flush() == 2
    assert [p.name for p in segments(data_dir)] == [
        "wal-00000000000000000001.log",
        "wal-00000000000000000002.log",
    ]
    assert replayed(data_dir) == [b"a", b"b"]


# --- a reference model: random operations, crashes included ------------------------------------------

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.binary(max_size=64)),
        st.tuples(st.sampled_from(["flush", "snapshot", "rotate", "reopen", "crash"]), st.just(b"")),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(OPERATIONS)
def test_random_operations_match_a_model(operations: list[tuple[str, bytes]]) -> None:
    """The model: the state is the list of appended payloads; a crash keeps the durable prefix."""
    with tempfile.TemporaryDirectory() as tmp:
        appended: list[bytes] = []
        durable = 0
        log = AppendLog.open(tmp)
        try:
            for operation, payload in operations:
                if operation == "append":
                    assert log.append(payload) == len(appended) + 1
                    appended.append(payload)
                elif operation == "flush":
                    assert log.flush() == len(appended)
                    durable = len(appended)
                elif operation == "snapshot":
                    log.write_snapshot(list(appended))
                    durable = len(appended)
                elif operation == "rotate":
                    log.rotate()
                else:
                    if operation == "reopen":
                        log.close()
                        durable = len(appended)
                    else:
                        crash(log)
                        del appended[durable:]
                    log = AppendLog.open(tmp)
                    assert list(log.replay()) == appended
                    assert log.last_seq == len(appended)
            log.close()
            assert replayed(Path(tmp)) == appended
        finally:
            crash(log)


@pytest.fixture
def copy_dir(tmp_path: Path) -> Callable[[Path], Path]:
    def copy(source: Path) -> Path:
        target = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(source, target)
        return target

    return copy


def test_recovery_is_idempotent(data_dir: Path, copy_dir: Callable[[Path], Path]) -> None:
    write_log(data_dir, records(6))
    (segment,) = segments(data_dir)
    with segment.open("ab") as file:
        file.write(b"\xa7\x01garbage")
    first = copy_dir(data_dir)
    assert replayed(first) == records(6)
    second = copy_dir(first)
    assert replayed(second) == records(6)
    assert (first / segment.name).read_bytes() == (second / segment.name).read_bytes()
